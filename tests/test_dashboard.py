"""rhm-memo dashboard: the workspace builds offline, its panels plot only keys a quickstart run logs, the docs
describe the command and the keys, and every W&B run gets its metric definitions and setting."""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rhm_memo.cli import main
from rhm_memo.dashboard import PANELS, PREFIXES, SECTIONS, SETTING_KEY, STEP, SUMMARIES, Sizes, define_metrics
from rhm_memo.dashboard import panel_keys as all_panel_keys
from rhm_memo.dashboard.build import describe, report, workspace
from rhm_memo.dashboard.cli import parser
from rhm_memo.report.groups import setting_id

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "dashboards.md"
KEY_TABLE = ROOT / "docs" / "records.md"
#: Prefixes of monitors that configs/quickstart.yaml may not run (yet): their panels' keys are required only when
#: the run logged a key under the prefix.
OPTIONAL_PREFIXES = ()

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*LeafSpec", "ignore:.*log_every_n_steps", "ignore::jsonargparse._deprecated.JsonargparseDeprecationWarning"
)


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails the test."""

    def connect(self, *args, **kwargs):
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket.socket, "connect", connect)


# ---------------------------------------------------------------------- the panels as plain data
def test_panels_name_known_sections_prefixes_and_placeholders():
    sections = {s.id for s in SECTIONS}
    assert len(sections) == len(SECTIONS)
    for panel in PANELS:
        assert panel.section in sections, panel
        assert panel.keys and panel.kind in ("line", "bar")
        for key in panel.keys:
            assert key.startswith(tuple(PREFIXES)), key
            assert set(re.findall(r"\{(\w+)\}", key)) <= {"h", "w", "k", "q"}, key
    assert all(any(p.section == s for p in PANELS) for s in sections), "a section without panels"


def test_panel_keys_expand_placeholders():
    keys = all_panel_keys(Sizes(heights=2, windows=3, near_copy_k=(1,), privacy_bins=2))
    assert keys["slop"][:2] == ["substrings/slop_index_h1", "substrings/slop_index_h2"]
    assert [k for k in keys["loss"] if k.startswith("val/loss_window")] == [f"val/loss_window_{w}" for w in range(3)]
    assert "memorization/near_copy_within_1" in keys["memorization"]
    assert "memorization/near_copy_within_2" not in keys["memorization"]
    assert [k for k in keys["privacy"] if "_q" in k] == ["privacy/auc_calibrated_q0", "privacy/auc_calibrated_q1"]
    assert not any("{" in k for ks in keys.values() for k in ks)


class RecordingRun:
    """Stands for a W&B run: records its define_metric calls."""

    def __init__(self):
        self.calls = []

    def define_metric(self, name, **kwargs):
        self.calls.append((name, kwargs))


def test_define_metrics_gives_every_prefix_the_step_and_the_summaries():
    run = RecordingRun()
    define_metrics(run, heights=3)
    defined = dict(run.calls)
    for prefix in PREFIXES:
        assert defined[f"{prefix}*"] == {"step_metric": STEP, "step_sync": True}
    assert defined["memorization/copy_fraction"]["summary"] == "max,last"
    assert [f"substrings/slop_index_h{h}" in defined for h in (1, 2, 3, 4)] == [True, True, True, False]
    assert all(kwargs["step_metric"] == STEP for kwargs in defined.values())
    assert len(run.calls) == len(PREFIXES) + len(SUMMARIES) - 1 + 3  # slop: one per height


def test_setting_id_pools_seeds_and_splits_settings():
    config = {"seed_everything": 1, "data": {"seed_data": 1, "zipf_exponent": 1.0, "L": 3}, "trainer": {"logger": 1}}
    replicate = {"seed_everything": 2, "data": {"seed_data": 7, "zipf_exponent": 1.0, "L": 3}, "trainer": {}}
    other = {"seed_everything": 1, "data": {"seed_data": 1, "zipf_exponent": 2.0, "L": 3}}
    assert re.fullmatch(r"[0-9a-f]{8}", setting_id(config))
    assert setting_id(config) == setting_id(replicate) != setting_id(other)


def test_wandb_workspaces_is_imported_only_to_build_a_dashboard():
    code = "import sys, rhm_memo, rhm_memo.dashboard.cli; print('wandb_workspaces' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------------- the workspace and the report, offline
def test_workspace_builds_and_serializes_without_network(no_network):
    sizes = Sizes(heights=3)
    space = workspace("E", "P", "dash", sizes)
    assert [s.name for s in space.sections] == [s.title for s in SECTIONS]
    expected = all_panel_keys(sizes)
    for section, spec in zip(space.sections, SECTIONS):
        plotted = [str(k) for p in section.panels for k in (p.metrics if hasattr(p, "metrics") else p.y)]
        assert sorted(set(plotted)) == sorted(expected[spec.id])
    view = space._to_model().model_dump(by_alias=True, exclude_none=True)  # what save() would send
    (runset,) = view["spec"]["section"]["runSets"]
    assert runset["grouping"] == [{"section": "config", "name": f"{SETTING_KEY}.value"}]
    first = view["spec"]["section"]["panelBankConfig"]["sections"][0]["panels"][0]["config"]
    assert first["xAxis"] == STEP and first["xLogScale"] and first["groupAgg"] == "mean"
    assert first["metrics"] == ["memorization/copy_fraction", "null/mass"]
    assert workspace("E", "P", group_by=[]).runset_settings.groupby == []


def test_report_builds_without_network(no_network):
    built = report("E", "P", "repro-cpu", sizes=Sizes(heights=3))
    grids = [b for b in built.blocks if hasattr(b, "runsets")]
    assert len(grids) == len(SECTIONS)
    assert {rs.query for g in grids for rs in g.runsets} == {"repro-cpu"}
    assert {tuple(rs.groupby) for g in grids for rs in g.runsets} == {(f"config.{SETTING_KEY}",)}
    assert "7 panel grids" in describe(workspace("E", "P"), built)


def test_dry_run_prints_sections_and_panels(capsys, no_network):
    main(["dashboard", "--entity", "E", "--project", "P", "--dry-run", "--heights", "2"])
    out = capsys.readouterr().out
    assert out.startswith("workspace 'rhm_memo' of E/P: runs grouped by config setting")
    for section in SECTIONS:
        assert f"  {section.title} (" in out
    assert "memorization/copy_fraction, null/mass" in out and "substrings/slop_index_h2" in out
    assert "substrings/slop_index_h3" not in out


def test_bad_options_end_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["dashboard", "--project", "P", "--dry-run"])
    assert exc.value.code == 2 and "--entity" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["dashboard", "--entity", "E", "--heights", "0", "--dry-run"])
    assert exc.value.code == 2 and "positive integer" in capsys.readouterr().err


def test_a_failed_save_is_one_line(monkeypatch, no_network):
    """Saving is the online step: its failure (here, a stand-in for W&B's "no API key") ends the command with one
    line."""

    def fail(self):
        raise RuntimeError("No API key configured.\nUse `wandb login`")

    import wandb_workspaces.workspaces as ws

    monkeypatch.setattr(ws.Workspace, "save", fail)
    with pytest.raises(SystemExit) as exc:
        main(["dashboard", "--entity", "E"])
    message = str(exc.value.code)
    assert "\n" not in message and "could not save the workspace" in message and "wandb login" in message


# ---------------------------------------------------------------------- the docs
def test_every_option_and_section_is_on_the_dashboards_page():
    page = PAGE.read_text(encoding="utf-8")
    for action in parser()._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in page, f"docs/dashboards.md does not describe {option}"
    for section in SECTIONS:
        assert section.title in page, f"docs/dashboards.md does not describe the section {section.title!r}"
    assert "rhm-memo dashboard --entity E --project P --dry-run" in page
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    assert "dashboards.md" in str(nav)


def test_every_logged_key_of_a_panel_is_in_the_key_table():
    """docs/records.md lists every prefix and every key a panel plots (placeholders written <h>, <w>, <k>, <q>)."""
    table = KEY_TABLE.read_text(encoding="utf-8").split("## Logged keys", 1)[1]
    listed = set(re.findall(r"`([\w/.<>-]+)`", table))
    for prefix in PREFIXES:
        assert f"{prefix}..." in table or any(k.startswith(prefix) for k in listed), prefix
    for panel in PANELS:
        for key in panel.keys:
            pattern = re.sub(r"\{(\w)\}", r"<\1>", key)
            assert pattern in listed, f"add {pattern} to the logged keys of docs/records.md"


# ---------------------------------------------------------------------- the drift test: a real quickstart run
def wandb_records(path: Path) -> list:
    """The records of a W&B transaction log (``run-*.wandb``): a 7-byte header (``:W&B``, magic, version), then
    LevelDB-log blocks of 32 KiB whose chunks (crc32, length, type: full/first/middle/last) make up the records."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    block, offset, pending, records = 32768, 7, b"", []
    while offset + 7 <= len(data):
        if block - offset % block < 7:  # a block's tail too short for a chunk header is padding
            offset += block - offset % block
            continue
        _, length, kind = struct.unpack("<IHB", data[offset : offset + 7])
        if kind == 0:  # zero padding (a preallocated tail)
            break
        pending += data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):  # FULL, LAST
            records.append(pb.Record.FromString(pending))
            pending = b""
    return records


def _key(item) -> str:
    """The key of a history or config item (recent W&B versions write it as a one-element ``nested_key``)."""
    return item.key or ".".join(item.nested_key)


def shrunk_quickstart() -> dict:
    """configs/quickstart.yaml, seconds long: few steps, strings and diffusion steps, validation twice."""
    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    cfg["trainer"] |= {"max_steps": 4, "val_check_interval": 2, "log_every_n_steps": 1, "enable_progress_bar": False,
                       "enable_model_summary": False}  # fmt: skip
    small = {"num_samples": 64, "num_strings": 16, "num_times": 4}  # strings per evaluation; noise levels ≤ T
    for callback in cfg["trainer"].get("callbacks", []):
        args = callback.setdefault("init_args", {})
        args |= {key: value for key, value in small.items() if key in args}
    cfg["model"]["process"]["init_args"]["num_steps"] = 10
    cfg["data"] |= {"train_size": 32, "test_size": 16, "batch_size": 16, "eval_batch_size": 16, "cache_dir": None}
    return cfg


def test_every_panel_key_is_logged_by_a_quickstart_run(tmp_path, monkeypatch, wandb_offline):
    """The drift test: a shrunk quickstart fit with the default offline W&B logger logs every key a panel plots
    (read back from the run's history records), defines the metrics, and logs the setting into the config."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["rhm-memo"])
    cfg = shrunk_quickstart()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    main(["fit", "--config", "config.yaml"])
    wandb_offline.finish()
    (log,) = (tmp_path / "runs" / "wandb").glob("offline-run-*/run-*.wandb")
    records = wandb_records(log)
    logged = {_key(item) for r in records if r.HasField("history") for item in r.history.item}
    assert "trainer/global_step" in logged and "memorization/copy_fraction" in logged  # the parse found history

    sizes = Sizes(heights=cfg["data"]["L"], windows=cfg["model"].get("val_windows", Sizes.windows))
    keys = [k for section in all_panel_keys(sizes).values() for k in section]
    optional = [p for p in OPTIONAL_PREFIXES if not any(k.startswith(p) for k in logged)]
    missing = [k for k in keys if k not in logged and not k.startswith(tuple(optional))]
    assert not missing, f"panels plot keys the quickstart run does not log: {missing}"

    globs = {r.metric.glob_name: r.metric.step_metric for r in records if r.HasField("metric") and r.metric.glob_name}
    assert {f"{prefix}*" for prefix in PREFIXES} <= set(globs) and globs["memorization/*"] == STEP
    defined = [r.metric for r in records if r.HasField("metric") and r.metric.name and not r.metric.expanded_from_glob]
    summaries = {m.name: m.summary for m in defined}
    assert summaries["memorization/copy_fraction"].max and summaries[f"substrings/slop_index_h{sizes.heights}"].max
    config = {_key(item): item.value_json for r in records if r.HasField("config") for item in r.config.update}
    assert re.fullmatch(r'"[0-9a-f]{8}"', config[SETTING_KEY])
    (resolved,) = (tmp_path / "runs" / "rhm_memo").glob("*/config.yaml")  # what rhm-memo report groups by
    assert yaml.safe_load(config[SETTING_KEY]) == setting_id(yaml.safe_load(resolved.read_text()))
