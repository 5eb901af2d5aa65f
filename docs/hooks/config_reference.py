"""mkdocs hook: build the configuration reference (docs/config.md) from signatures and docstrings.

The page holds the marker ``<!-- config-reference -->``; at build time it is replaced by one table per
config-facing class, with each argument's YAML path, type, default and description. Descriptions are parsed
with ``docstring_parser`` from the class docstring's ``Args:`` section and the ``__init__`` docstring, the
same sources jsonargparse uses for ``rhm-memo fit --help``. An argument without a description is logged as a
warning, so ``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docstring_parser
from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger(__name__)

MARKER = "<!-- config-reference -->"
PAGE = "config.md"


@dataclass(frozen=True)
class Section:
    """One group of config keys: the classes that fill it, where their arguments sit in the YAML."""

    anchor: str
    title: str
    prefix: str
    classes: list[str]
    intro: str
    #: Arguments that are not written in a config, with the reason shown under the table.
    supplied: dict[str, str] = field(default_factory=dict)


SECTIONS = [
    Section(
        anchor="data",
        title="Data: `data`",
        prefix="data.",
        classes=["rhm_memo.data.RHMDataModule"],
        intro="The grammar and its strings ([Data](data.md), [Grammar](grammar.md)). The CLI links the data "
        "module's `vocab_size` (= v), `seq_len` (= s**L) and `s` into the model.",
    ),
    Section(
        anchor="model",
        title="Model: `model`",
        prefix="model.",
        classes=["rhm_memo.module.DiffusionModule"],
        intro="The `LightningModule` ([Training](training.md)). `process` and `net` are `class_path` + "
        "`init_args` blocks whose keys are listed in the next two sections; `optimizer` and `lr_scheduler` "
        "are `class_path` + `init_args` blocks of any `torch.optim` optimizer or scheduler (their arguments "
        "are PyTorch's).",
        supplied={
            "vocab_size": "linked from `data.vocab_size` by the CLI",
            "seq_len": "linked from `data.seq_len` by the CLI",
            "s": "linked from `data.s` by the CLI",
        },
    ),
    Section(
        anchor="process",
        title="Diffusion process: `model.process`",
        prefix="model.process.init_args.",
        classes=["rhm_memo.diffusion.UniformDiffusion", "rhm_memo.diffusion.MaskedDiffusion"],
        intro="Chosen by `model.process.class_path` ([Diffusion](diffusion.md), "
        "[Diffusion processes](concepts/diffusion.md)).",
        supplied={"vocab_size": "supplied by `DiffusionModule` (`process(vocab_size)`)"},
    ),
    Section(
        anchor="net",
        title="Backbone: `model.net`",
        prefix="model.net.init_args.",
        classes=["rhm_memo.models.DiffusionTransformer", "rhm_memo.models.HierarchicalUNet"],
        intro="Chosen by `model.net.class_path` ([Models](models.md)).",
        supplied={
            "inputs": "supplied by `DiffusionModule`: a `BackboneInputs` (the process's `input_size`, v, d = s**L, "
            "s and the process's cond schedule)",
        },
    ),
    Section(
        anchor="callbacks",
        title="Monitors: `trainer.callbacks`",
        prefix="trainer.callbacks[].init_args.",
        classes=[],  # filled with every public Lightning callback of rhm_memo.callbacks
        intro="Entries of the `trainer.callbacks` list, each a `class_path` + `init_args` block "
        "([Monitors](monitors.md), [Run records](records.md)).",
    ),
]


def _import(path: str) -> Any:
    """The object at a dotted path ``package.module.Name``."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _public_callbacks() -> list[str]:
    """Every Lightning callback exported by ``rhm_memo.callbacks``, in the order of its ``__all__``."""
    import lightning as L

    import rhm_memo.callbacks as package

    names = []
    for name in package.__all__:
        obj = getattr(package, name)
        if inspect.isclass(obj) and issubclass(obj, L.Callback):
            names.append(f"{package.__name__}.{name}")
    return names


def _descriptions(cls: type) -> dict[str, str]:
    """Argument descriptions from the class docstring and the ``__init__`` docstring (the latter wins)."""
    out: dict[str, str] = {}
    for doc in (cls.__doc__, cls.__init__.__doc__):
        if doc:
            for param in docstring_parser.parse(inspect.cleandoc(doc)).params:
                if param.description:
                    out[param.arg_name] = " ".join(param.description.split())
    return out


def _public_path(cls: type) -> str:
    """``package.Name`` for a class re-exported by its package (as configs write it), else ``module.Name``."""
    parts = cls.__module__.split(".")
    for end in range(2, len(parts)):
        module = ".".join(parts[:end])
        if getattr(importlib.import_module(module), cls.__qualname__, None) is cls:
            return f"{module}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _yaml_scalar(value: Any) -> str:
    """A default as it would be written in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    if inspect.isclass(value):
        return _public_path(value)
    if callable(value):  # a default function: the first line of its docstring
        return (inspect.getdoc(value) or value.__qualname__).splitlines()[0].rstrip(".")
    return str(value)


def _default(value: Any) -> str:
    """The default cell: a code span, or "required" for arguments without a default."""
    if value is inspect.Parameter.empty:
        return "required"
    text = _yaml_scalar(value)
    if callable(value) and not inspect.isclass(value):
        return f"*{_escape(text)}*"  # a default function, described by its docstring
    return f"`{text}`"


def _escape(text: str) -> str:
    """Markdown for a table cell: Sphinx roles (``:meth:`x` ``) become code spans, pipes outside code are escaped."""
    text = re.sub(r":(?:meth|class|func|attr|mod):`~?([^`]+)`", r"`\1`", text)
    parts = re.split(r"(`+[^`]*`+)", text)
    return "".join(p if p.startswith("`") else p.replace("|", r"\|") for p in parts)


def _table(section: Section, class_path: str) -> tuple[list[str], list[str]]:
    """Markdown lines of one class's table and the list of problems (arguments without description)."""
    cls = _import(class_path)
    described = _descriptions(cls)
    problems = []
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    notes = []
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in section.supplied:
            notes.append(f"`{name}`: {section.supplied[name]}")
            continue
        description = described.get(name)
        if description is None:
            problems.append(f"{class_path}: argument '{name}' has no description in its docstring")
            description = "**undocumented**"
        annotation = param.annotation if param.annotation is not inspect.Parameter.empty else "Any"
        if not isinstance(annotation, str):
            annotation = inspect.formatannotation(annotation)
        rows.append(
            f"| `{section.prefix}{name}` | `{annotation}` | {_default(param.default)} | {_escape(description)} |"
        )
    lines = [f"### {cls.__name__}", ""]
    summary = (inspect.getdoc(cls) or "").split("\n\n")[0]
    if summary:
        lines += [_escape(" ".join(summary.split())), ""]
    if section.prefix.endswith("init_args."):
        owner = section.prefix[: -len("init_args.")]
        lines += [f"Selected by `{owner}class_path: {class_path}`.", ""]
    else:
        lines += [f"Class: `{class_path}`.", ""]
    lines += rows
    if notes:
        lines += ["", "Not set in a config: " + "; ".join(notes) + "."]
    return [*lines, ""], problems


def render() -> tuple[str, list[str]]:
    """The whole generated reference and the list of problems found."""
    lines: list[str] = []
    problems: list[str] = []
    for section in SECTIONS:
        classes = section.classes or _public_callbacks()
        lines += [f"## {section.title} {{#{section.anchor}}}", "", section.intro, ""]
        for class_path in classes:
            table, found = _table(section, class_path)
            lines += table
            problems += found
    return "\n".join(lines), problems


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker of docs/config.md with the generated tables."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        log.warning("%s has no %s marker: the configuration reference was not generated", PAGE, MARKER)
        return markdown
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:  # the package is normally installed (pip install -e .); this covers a bare checkout
        sys.path.insert(0, root)
    generated, problems = render()
    for problem in problems:
        log.warning(problem)
    return markdown.replace(MARKER, generated)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """In the API reference, show Sphinx roles of our docstrings (``:meth:`x` ``) as plain code."""
    if not page.file.src_uri.startswith("api/"):
        return html
    return re.sub(r":(?:meth|class|func|attr|mod):(<code>)~?", r"\1", html)
