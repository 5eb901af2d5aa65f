"""The code map (docs/codemap.md) lists every module of the package, and nothing that is not one."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "codemap.md"


def package_modules() -> set[str]:
    """Dotted names of every module under rhm_memo/ (a package is named by its folder)."""
    names = set()
    for path in (ROOT / "rhm_memo").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def listed_modules() -> list[str]:
    """The names in the first column of the page's tables that start with ``rhm_memo``."""
    return re.findall(r"^\| `(rhm_memo(?:\.\w+)*)` \|", PAGE.read_text(encoding="utf-8"), flags=re.M)


def test_every_module_is_on_the_code_map():
    modules = package_modules()
    assert {"rhm_memo", "rhm_memo.rhm.grammar", "rhm_memo.report.cli"} <= modules  # the walk finds the package
    missing = sorted(modules - set(listed_modules()))
    assert not missing, f"add these modules to docs/codemap.md (one line each on their job): {missing}"


def test_code_map_lists_each_module_once_and_only_real_modules():
    listed = listed_modules()
    assert len(listed) == len(set(listed)), "a module is listed twice"
    stale = sorted(set(listed) - package_modules())
    assert not stale, f"docs/codemap.md lists modules that no longer exist: {stale}"


def test_code_map_is_in_the_site_navigation():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    assert "codemap.md" in re.findall(r"[\w/.-]+\.md", str(nav))
