"""rhm_memo.report.page: generated tables inside markdown pages, and the reproduction page is current."""

import re
from pathlib import Path

import pytest
from test_report import make_run

from rhm_memo.report import load_runs, summary_table
from rhm_memo.report.page import main, render_block, render_page, update_page

ROOT = Path(__file__).resolve().parents[2]


def test_blocks_are_replaced_by_the_tables_of_their_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for seed in (1, 2):
        make_run(tmp_path / "runs" / f"a-s{seed}", seed=seed, truncated=False)
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n<!-- generated: runs runs/a-s* -->\nstale\n<!-- end generated -->\n\ntext after\n")
    assert not update_page(page, check=True)  # stale
    assert page.read_text().count("stale") == 1  # --check writes nothing
    assert not update_page(page)
    text = page.read_text()
    expected = summary_table(load_runs(sorted(str(p) for p in (tmp_path / "runs").glob("a-s*"))))
    assert f"<!-- generated: runs runs/a-s* -->\n{expected}\n<!-- end generated -->" in text
    assert text.endswith("text after\n") and update_page(page, check=True)


def test_a_block_without_runs_says_so_and_a_bad_block_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert render_block("null nothing/here*") == "*No finished runs match nothing/here* yet.*"
    with pytest.raises(ValueError, match="TABLE in"):
        render_page("<!-- generated: nosuchtable x -->\n<!-- end generated -->")
    with pytest.raises(SystemExit, match="differ from the records"):
        page = tmp_path / "p.md"
        page.write_text("<!-- generated: runs nothing* -->\nold\n<!-- end generated -->\n")
        main(["--page", str(page), "--check"])


def test_the_reproduction_page_matches_the_committed_records(monkeypatch):
    """Every generated table of docs/reproduction.md equals what the committed records give (no hand edits)."""
    monkeypatch.chdir(ROOT)
    assert update_page("docs/reproduction.md", check=True), "run: rhm-memo report --page docs/reproduction.md"


SUPERSCRIPT = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?"  # as the tables write numbers
STATED = r"(?<![\w.-])[−+-]?\d+(?:\.\d+)?(?:·10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?"  # as prose writes them


def stated(text):
    """The value, sign kept, of a number as prose writes it ("−0.086", "+0.16", "-82", "2.7·10⁻⁴") and half a unit
    of its last digit (what rounding to it can hide)."""
    mantissa, _, power = text.replace("−", "-").partition("·10")
    scale = 10.0 ** int(power.translate(SUPERSCRIPT)) if power else 1.0
    decimals = len(mantissa.partition(".")[2])
    return float(mantissa) * scale, 0.5 * 10.0**-decimals * scale


@pytest.mark.parametrize(
    ("text", "value", "half"),
    [("−0.086", -0.086, 5e-4), ("+0.16", 0.16, 5e-3), ("2.7·10⁻⁴", 2.7e-4, 5e-6), ("-82", -82.0, 0.5)],
)
def test_stated_numbers_parse(text, value, half):
    assert stated(text) == pytest.approx((value, half))


def tabled_numbers(blocks):
    """The p-values and the other numbers of the markdown tables in ``blocks``: a p-value is a cell of a column
    whose header names p ("Welch p", "p (vs null)") or a "p = …" inside a cell; figure links are skipped."""
    pvalues, others = [], []
    for block in blocks:
        header = None
        for line in block.splitlines():
            if not line.startswith("|") or line.startswith("|---"):
                header = None if not line.startswith("|") else header
                continue
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if header is None:
                header = cells
                continue
            for name, cell in zip(header, cells):
                inner = re.findall(r"\bp = (" + NUMBER + ")", cell)
                pvalues += [float(x) for x in inner]
                numbers = [float(x) for x in re.findall(NUMBER, re.sub(r"\bp = " + NUMBER, "", cell))]
                (pvalues if re.search(r"(^| )p( |$)", name) else others).extend(numbers)
    return pvalues, others


def test_the_regime_studys_prose_states_only_numbers_of_its_tables():
    """Each p-value, each signed number and each bracketed interval that the prose of the regime study states is, at
    the prose's precision, a number of the section's generated tables (p-values among their p-values, the others
    among their other cells): a change of the records that moves a table also fails the sentence that quotes it,
    instead of leaving it stale."""
    page = (ROOT / "docs" / "reproduction.md").read_text()
    start = page.index("## In the paper's regime")
    section = page[start : page.index("\n## ", start)]
    blocks = re.findall(r"<!-- generated: [^>]*-->\n(.*?)<!-- end generated -->", section, re.S)
    pvalues, others = tabled_numbers(blocks)
    prose = re.sub(r"<!-- generated: [^>]*-->.*?<!-- end generated -->|```.*?```|`[^`]*`", "", section, flags=re.S)
    quoted_p = re.findall(r"\bp = (" + STATED + ")", prose)
    signed = [x for x in re.findall(STATED, re.sub(r"\bp = " + STATED, "", prose)) if x[0] in "−+-"]
    intervals = [x for pair in re.findall(rf"\[({STATED}), ({STATED})\]", prose) for x in pair]
    assert len(quoted_p) > 20 and len(signed) > 10 and intervals  # the check reads the page

    def stale(quoted, tabled):
        return [q for q in quoted if not any(abs(v - stated(q)[0]) <= stated(q)[1] * (1 + 1e-9) for v in tabled)]

    missing = stale(quoted_p, pvalues) + stale(signed + intervals, others)
    assert not missing, f"numbers in the prose of docs/reproduction.md that no generated table gives: {missing}"


def test_grid_runs_in_progress_are_left_out(tmp_path, monkeypatch):
    """A grid run without its done marker is in no table; the compute table adds the finished runs' hours, and
    its wall time is the union of their intervals (two one-hour runs half an hour apart: 1.5 h)."""
    monkeypatch.chdir(tmp_path)
    runs = [make_run(tmp_path / f"g-s{i}", truncated=False) for i in (1, 2, 3)]
    for run in runs:
        (run / "grid.log").write_text("...")
    (runs[0] / "done").write_text('{"seconds": 3600.0, "finished": "2026-12-03T10:00:00+00:00"}\n')
    (runs[2] / "done").write_text('{"seconds": 3600.0, "finished": "2026-12-03T11:30:00+01:00"}\n')  # 10:30 UTC
    assert "g-s1" in render_block("runs g-s*") and "g-s2" not in render_block("runs g-s*")
    assert "| 2 | 120 | 60.0 (60.0–60.0) | 1.5 |" in render_block("compute g-s*")


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_figure_blocks_are_drawn_named_by_their_records_and_checked(tmp_path, monkeypatch):
    """A figure block writes a PNG under img/generated next to the page; --check passes without drawing; a changed
    record changes the name, so --check fails until the page is regenerated, which removes the old figure."""
    monkeypatch.chdir(tmp_path)
    for seed in (1, 2):
        make_run(tmp_path / "runs" / f"a-s{seed}", seed=seed, truncated=False)
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text("<!-- generated: figure copy_fraction runs/a-s* -->\n<!-- end generated -->\n")
    assert not update_page(page, check=True) and not (tmp_path / "docs" / "img").exists()  # check draws nothing
    update_page(page)
    (first,) = (tmp_path / "docs" / "img" / "generated" / "page").glob("copy_fraction-*.png")
    assert first.read_bytes().startswith(PNG_MAGIC)
    assert f"![copy fraction and onsets: a-s*](img/generated/page/{first.name})" in page.read_text()
    other = tmp_path / "docs" / "img" / "generated" / "other" / "kept.png"  # another page's figure: left alone
    other.parent.mkdir()
    other.write_bytes(PNG_MAGIC)
    assert update_page(page, check=True)
    metrics = tmp_path / "runs" / "a-s1" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().replace('"copy_fraction": 0.45', '"copy_fraction": 0.46', 1))
    assert not update_page(page, check=True)
    update_page(page)
    (second,) = (tmp_path / "docs" / "img" / "generated" / "page").glob("copy_fraction-*.png")
    assert second != first and not first.exists() and other.exists() and update_page(page, check=True)
    second.unlink()  # a figure the page refers to but that is missing: the page is not current
    assert not update_page(page, check=True)


def test_figure_blocks_that_cannot_be_drawn_or_are_malformed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "one", truncated=False)
    text = render_block("figure group_statistics one")  # a single setting: nothing to compare
    assert text.startswith("*No figure group_statistics-") and "onsets and AUC per setting" in text
    assert not (tmp_path / "img").exists()  # render_block alone draws nothing
    assert render_block("figure copy_fraction nothing*") == "*No finished runs match nothing* yet.*"
    for spec in ("figure nosuchfigure one", "figure copy_fraction"):
        with pytest.raises(ValueError, match="NAME in"):
            render_block(spec)
