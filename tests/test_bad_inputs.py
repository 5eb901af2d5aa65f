"""Every bad input ends with one clear line that names the parameter, the value and what is allowed: at parse time
where possible, otherwise at set-up before any training. Tables: the input → a regex of the expected message.

* the command line (``rhm_memo.cli.main``): ``SystemExit`` with one line, ``rhm-memo: error: …`` (``--debug`` shows
  the traceback instead), or the subcommand's own one-line prefix (``rhm-memo data: …``, ``rhm-memo report: …``;
  argparse's subcommands exit 2 with ``rhm-memo grid: …`` as the last line of stderr, after their usage);
* the Python API (constructors and functions): a ``ValueError`` of one line.
"""

import argparse
import json
import math
import re
import sys

import lightning as L
import pytest
import torch
import yaml

from rhm_memo import metrics as M
from rhm_memo.callbacks import (
    EvalSchedule,
    MemorizationMonitor,
    PredictionEvaluator,
    PrivacyMonitor,
    SampleSpec,
    SubstringMonitor,
)
from rhm_memo.cli import main
from rhm_memo.data import RHMDataModule
from rhm_memo.diffusion import MaskedDiffusion, UniformDiffusion
from rhm_memo.models import BackboneInputs, DiffusionTransformer, HierarchicalUNet
from rhm_memo.module import DiffusionModule
from rhm_memo.report import load_run
from rhm_memo.rhm import Grammar

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec", "ignore:.*log_every_n_steps")

CONFIG = {
    "seed_everything": 0,
    "trainer": {"accelerator": "cpu", "devices": 1, "max_steps": 1, "enable_progress_bar": False,
                "enable_model_summary": False, "limit_val_batches": 0, "logger": False},
    "model": {"process": {"class_path": "rhm_memo.diffusion.UniformDiffusion", "init_args": {"num_steps": 5}},
              "net": {"class_path": "rhm_memo.models.DiffusionTransformer",
                      "init_args": {"width": 16, "depth": 1, "heads": 2}},
              "n_trajectories": 2},
    "data": {"v": 4, "n": 2, "m": 2, "s": 2, "L": 3, "train_size": 8, "test_size": 8, "batch_size": 4,
             "eval_batch_size": 8, "cache_dir": None},
}  # fmt: skip
MONITOR = "rhm_memo.callbacks.MemorizationMonitor"
PRIVACY = "rhm_memo.callbacks.PrivacyMonitor"
SUBSTRINGS = "rhm_memo.callbacks.SubstringMonitor"
WRITER = "rhm_memo.callbacks.PredictionEvaluator"
RECORD = {"schema": 1, "monitor": "memorization", "step": 1}


def write_inputs(folder) -> None:
    """The files the tables refer to: configs, sweep files and run directories with bad records."""
    (folder / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    (folder / "notmap.yaml").write_text("- 1\n")
    (folder / "random-sweep.yaml").write_text("method: random\nparameters: {x: {values: [1]}}\n")
    runs = {
        "norun": {},
        "badschema": {"metrics.jsonl": json.dumps({**RECORD, "schema": 99}) + "\n"},
        "badstep": {"metrics.jsonl": json.dumps({**RECORD, "step": "abc"}) + "\n"},
        "badjson": {"metrics.jsonl": "{x\n" + json.dumps(RECORD) + "\n"},
        "notobject": {"metrics.jsonl": "[1]\n" + json.dumps(RECORD) + "\n"},
        "nomonitor": {"metrics.jsonl": json.dumps({"schema": 1, "step": 1}) + "\n"},
        "badconfig": {"metrics.jsonl": json.dumps(RECORD) + "\n", "config.yaml": "a: [\n"},
        "badnpz": {"metrics.jsonl": json.dumps(RECORD) + "\n", "memorization.npz": "not an archive"},
    }
    for name, files in runs.items():
        (folder / name).mkdir()
        for file, text in files.items():
            (folder / name / file).write_text(text)


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    """A working directory with the tables' files; the CLI sees only the args given to main."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["rhm-memo"])  # LightningCLI gets its args from main's list only
    write_inputs(tmp_path)
    return tmp_path


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if a Trainer starts fit, validate, test or predict: these errors must come before."""
    for name in ("fit", "validate", "test", "predict"):
        monkeypatch.setattr(L.Trainer, name, lambda *a, _name=name, **k: pytest.fail(f"Trainer.{_name} was reached"))


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a training or prediction step runs: these errors must come at set-up."""
    for name in ("training_step", "predict_step"):
        monkeypatch.setattr(DiffusionModule, name, lambda *a, _name=name, **k: pytest.fail(f"{_name} was reached"))


def _message(excinfo) -> str:
    """The one line of a ``rhm-memo: error:`` exit, without its prefix and suffix."""
    text = str(excinfo.value.code)
    assert "\n" not in text and text.startswith("rhm-memo: error: ") and text.endswith("(--debug shows the traceback)")
    return text.removeprefix("rhm-memo: error: ")


def _cli_message(args: list[str]) -> str:
    """The one-line message of ``rhm-memo SUBCOMMAND --config cfg.yaml ARGS...`` (``args`` = subcommand, ARGS)."""
    with pytest.raises(SystemExit) as excinfo:
        main([args[0], "--config", "cfg.yaml", *args[1:]])
    return _message(excinfo)


# ---------------------------------------------------------------------- rhm-memo fit: before the Trainer runs
FIT_CASES = [
    # data
    (["--data.train_size", "0"], r"train_size must be an integer >= 1, got 0"),
    (["--data.test_size", "-1"], r"test_size must be an integer >= 0, got -1"),
    (["--data.batch_size", "16"], r"batch_size=16 is larger than the training set \(train_size=8\)"),
    (["--data.eval_batch_size", "0"], r"eval_batch_size must be an integer >= 1, got 0"),
    (["--data.predict_size", "0"], r"predict_size must be an integer >= 1, got 0"),
    (["--data.predict_size", "1.5"], r"Parser key \"data\.predict_size\": Expected a <class 'int'>\. Got value: 1\.5"),
    (["--data.num_workers", "-1"], r"num_workers must be an integer >= 0, got -1"),
    (["--data.seed_data", "1.5"], r"Parser key \"data\.seed_data\": Expected a <class 'int'>\. Got value: 1\.5"),
    (["--data.unique", "maybe"], r"Parser key \"data\.unique\": Expected a <class 'bool'>\. Got value: maybe"),
    (["--data.L", "0"], r"L must be an integer >= 1, got 0"),
    (["--data.n", "0"], r"n must be an integer >= 1, got 0"),
    (["--data.m", "0"], r"m must be an integer >= 1, got 0"),
    (["--data.s", "1"], r"s must be an integer >= 2, got 1"),
    (["--data.v", "1"], r"need m\*n <= v\*\*s for unambiguous level-1 rules"),
    (["--data.train_size", "300"], r"train_size \+ test_size = 308 exceeds the 256 distinct strings"),
    (["--data.unique", "false", "--data.test_size", "256"], r"test_size = 256 leaves no room for training strings"),
    (["--data.zipf_exponent", "1.0"], r"zipf_exponent=1\.0 has no effect without zipf_levels"),
    (["--data.zipf_exponent", "-1", "--data.zipf_levels", "[1]"], r"zipf_exponent must be a finite real >= 0"),
    (["--data.zipf_exponent", "1", "--data.zipf_levels", "[9]"], r"levels must be integers in 1\.\.L=3"),
    (["--data.rule_probs", "{4: [0.5, 0.5]}"], r"rule_probs: levels must be integers in 1\.\.L=3"),
    (["--data.root_prior", "[0.5, 0.6]"], r"root_prior must sum to 1 along its last axis"),
    # model, process and backbone
    (["--model.n_trajectories", "0"], r"n_trajectories must be an integer >= 1, got 0"),
    (["--model.val_windows", "0"], r"val_windows must be an integer >= 1, got 0"),
    (["--model.noise_seed", "1.5"], r"Parser key \"model\.noise_seed\": Expected a <class 'int'>\. Got value: 1\.5"),
    (["--model.vocab_size", "9"], r"Linked \"model\.vocab_size\" must be given via \"data\.vocab_size\""),
    (["--model.process", "no.such.Class"], r"Parser key \"model\.process\": .*no\.such\.Class"),
    (["--model.process.init_args.num_steps", "0"], r"num_steps must be an integer >= 1, got 0"),
    (["--model.process.init_args.beta_start", "1.5"], r"beta_start must be a number in \(0, 1\), got 1\.5"),
    (["--model.process.init_args.beta_end", "0.0001"], r"beta_end must be >= beta_start, got beta_start=0\.001"),
    (["--model.process.init_args.schedule", "weird"],
     r"Parser key \"model\.process\": .*Expected a typing\.Literal\['ours', 'paper'\]\. Got value: weird"),
    (["--model.process", "rhm_memo.diffusion.MaskedDiffusion", "--model.process.init_args.eps", "0"],
     r"eps must be a number in \(0, 1\), got 0"),
    (["--model.net", "torch.nn.Linear"], r"Parser key \"model\.net\": .*to be a subclass of <class 'Backbone'>"),
    (["--model.net.init_args.width", "0"], r"width must be an integer >= 1, got 0"),
    (["--model.net.init_args.depth", "0"], r"depth must be an integer >= 1, got 0"),
    (["--model.net.init_args.heads", "3"], r"width must be divisible by heads, got width=16, heads=3"),
    (["--model.net.init_args.dropout", "1.0"], r"dropout must be in \[0, 1\), got 1\.0"),
    (["--model.net", "rhm_memo.models.HierarchicalUNet", "--model.net.init_args.width", "0"],
     r"width must be an integer >= 1, got 0"),
    # trainer, files and options
    (["--trainer.max_steps", "-5"], r"`max_steps` must be a non-negative integer or -1"),
    (["--trainer.max_steps", "abc"], r"Parser key \"trainer\.max_steps\": Expected a <class 'int'>\. Got value: abc"),
    (["--no-such-option", "1"], r"unrecognized arguments: --no-such-option 1"),
    (["--config", "missing.yaml"], r"Parser key \"config\": File does not exist: .*missing\.yaml"),
    (["--config", "notmap.yaml"], r"a --config file is not a YAML mapping of keys"),
    # monitors
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.num_samples", "0"],
     r"^num_samples must be an integer >= 1, got 0"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.batch_size", "-1"], r"^batch_size must be an integer"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.per_octave", "-1"], r"^per_octave must be an integer"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.start_step", "0"], r"^start_step must be an integer"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.null_draws", "-1"], r"^null_draws must be an integer"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.stop_at", "2"], r"^stop_at must be a copy fraction"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.every_n_steps", "0"],
     r"^every_n_steps must be an integer >= 1"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.bins", "0"], r"^bins must be an integer >= 1, got 0"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.sample_steps", "0"],
     r"^sample_steps must be an integer >= 1, got 0"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.near_copy_k", "[-1]"],
     r"^near_copy_k must be a list of Hamming distances \(integers >= 0\), got \[-1\]"),
    ([f"--trainer.callbacks+={SUBSTRINGS}", "--trainer.callbacks.top_fraction", "0"],
     r"^top_fraction must be a number in \(0, 1\], got 0"),
    ([f"--trainer.callbacks+={SUBSTRINGS}", "--trainer.callbacks.max_true_blocks", "-1"],
     r"^max_true_blocks must be an integer >= 0, got -1"),
    ([f"--trainer.callbacks+={SUBSTRINGS}", "--trainer.callbacks.top_blocks", "-1"],
     r"^top_blocks must be an integer >= 0, got -1"),
    ([f"--trainer.callbacks+={PRIVACY}", "--trainer.callbacks.num_strings", "0"],
     r"^num_strings must be an integer >= 1, got 0"),
    ([f"--trainer.callbacks+={PRIVACY}", "--trainer.callbacks.num_times", "0"], r"^num_times must be an integer >= 1"),
    ([f"--trainer.callbacks+={PRIVACY}", "--trainer.callbacks.bins", "0"], r"^bins must be an integer >= 1, got 0"),
    ([f"--trainer.callbacks+={PRIVACY}", "--trainer.callbacks.batch_size", "-1"], r"^batch_size must be an integer"),
    ([f"--trainer.callbacks+={PRIVACY}", "--trainer.callbacks.num_times", "a"],
     r"Parser key \"trainer\.callbacks\": Problem with given class_path '.*PrivacyMonitor': "
     r"Parser key \"num_times\": Expected a <class 'int'>\. Got value: a$"),
    ([f"--trainer.callbacks+={PRIVACY}", "--trainer.callbacks.num_strings", "1.5"],
     r"Parser key \"num_strings\": .*Subtypes: \[<class 'int'>, <class 'NoneType'>\].*Given value: 1\.5$"),
]  # fmt: skip


# ---------------------------------------------------------------------- validate, test, predict: before the run
RUN_CASES = [
    (["predict", "--data.predict_size", "0"], r"predict_size must be an integer >= 1, got 0"),
    (["predict", "--data.predict_size", "-1"], r"predict_size must be an integer >= 1, got -1"),
    (["predict", f"--trainer.callbacks+={WRITER}", "--trainer.callbacks.null_draws", "-1"],
     r"^null_draws must be an integer >= 0, got -1"),
    (["predict", f"--trainer.callbacks+={WRITER}", "--trainer.callbacks.evaluate", "maybe"],
     r"Parser key \"evaluate\": Expected a <class 'bool'>\. Got value: maybe"),
    (["validate", "--data.eval_batch_size", "0"], r"eval_batch_size must be an integer >= 1, got 0"),
    (["test", "--model.val_windows", "0"], r"val_windows must be an integer >= 1, got 0"),
]  # fmt: skip


#: Every command-line case checked before the run: fit's (its subcommand added), then validate, test and predict's.
BEFORE_RUN = [(["fit", *args], pattern) for args, pattern in FIT_CASES] + RUN_CASES


@pytest.mark.parametrize(("args", "pattern"), BEFORE_RUN, ids=[" ".join(a)[-60:] for a, _ in BEFORE_RUN])
def test_bad_input_gives_one_line_before_the_run(inputs, no_run, args, pattern):
    message = _cli_message(args)
    assert re.search(pattern, message.removesuffix(" (--debug shows the traceback)")), message


# ---------------------------------------------------------------------- at set-up: the Trainer runs, no step does
SETUP_CASES = [
    (["fit", "--ckpt_path", "/nonexistent/run.ckpt"], r"Checkpoint file not found: /nonexistent/run\.ckpt"),
    (["predict", "--ckpt_path", "/nonexistent/run.ckpt"], r"Checkpoint file not found: /nonexistent/run\.ckpt"),
    (["fit", f"--trainer.callbacks+={PRIVACY}", "--data.test_size", "0"],
     r"PrivacyMonitor needs held-out strings \(data\.test_size >= 1\)"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "pattern"), SETUP_CASES, ids=[" ".join(a)[-60:] for a, _ in SETUP_CASES])
def test_bad_input_found_at_setup_gives_one_line_before_any_step(inputs, no_training, args, pattern):
    message = _cli_message(args)
    assert re.search(pattern, message), message


def test_debug_shows_the_traceback(inputs, no_run, monkeypatch):
    """``--debug`` (anywhere) or RHM_MEMO_DEBUG=1 raises the error itself, a parse error included."""
    with pytest.raises(ValueError, match="train_size must be an integer >= 1"):
        main(["fit", "--debug", "--config", "cfg.yaml", "--data.train_size", "0"])
    with pytest.raises(argparse.ArgumentError, match=r"data\.predict_size"):
        main(["fit", "--config", "cfg.yaml", "--data.predict_size", "1.5", "--debug"])
    monkeypatch.setenv("RHM_MEMO_DEBUG", "1")
    with pytest.raises(ValueError, match="train_size must be an integer >= 1"):
        main(["fit", "--config", "cfg.yaml", "--data.train_size", "0"])


# ---------------------------------------------------------------------- the other subcommands: their own prefix
OTHER_CASES = [
    # rhm-memo (no Lightning subcommand)
    (["no-such-command"], r"^rhm-memo: error: unknown subcommand 'no-such-command'; choose from fit, .*dashboard$"),
    # rhm-memo data
    (["data", "--config", "missing.yaml"], r"^rhm-memo data: .*missing\.yaml"),
    (["data", "--config", "notmap.yaml"], r"^rhm-memo data: a --config file is not a YAML mapping of keys"),
    (["data", "--config", "cfg.yaml", "--data.nope", "1"], r"^rhm-memo data: unrecognized arguments: --data\.nope 1"),
    (["data", "--config", "cfg.yaml", "--data.train_size", "0"],
     r"^rhm-memo: error: train_size must be an integer >= 1"),
    (["data", "--config", "cfg.yaml", "--data.predict_size", "0"],
     r"^rhm-memo: error: predict_size must be an integer >= 1, got 0"),
    (["data", "--config", "cfg.yaml", "--data.v", "1"], r"^rhm-memo: error: need m\*n <= v\*\*s"),
    # rhm-memo report
    (["report"], r"^rhm-memo report: error: the following arguments are required: run_dirs$"),
    (["report", "not-a-run"], r"^rhm-memo report: not-a-run is not a run directory \(no metrics\.jsonl\)"),
    (["report", "norun"], r"^rhm-memo report: norun is not a run directory \(no metrics\.jsonl\)"),
    (["report", "badschema", "--no-figures"],
     r"^rhm-memo report: badschema/metrics\.jsonl:1: record schema 99 is not supported \(this report reads schema 1"),
    (["report", "badstep", "--no-figures"],
     r"^rhm-memo report: badstep/metrics\.jsonl:1: 'step' must be an integer, got 'abc'$"),
    (["report", "badconfig", "--no-figures"], r"^rhm-memo report: badconfig/config\.yaml is not valid YAML \("),
    (["report", "badnpz", "--no-figures"], r"^rhm-memo report: badnpz/memorization\.npz is not a readable \.npz file"),
    (["report", "--page", "missing.md"], r"^rhm-memo report: .*missing\.md"),
    (["report", "--page"], r"^rhm-memo report --page: give the markdown page to update"),
    # rhm-memo grid
    (["grid", "missing.yaml"], r"^rhm-memo grid: missing\.yaml: no such sweep file$"),
    (["grid", "cfg.yaml"], r"^rhm-memo grid: cfg\.yaml: not a W&B sweep file \(no top-level `method:`"),
    (["grid", "random-sweep.yaml"], r"^rhm-memo grid: random-sweep\.yaml: method is 'random'; .* only `method: grid`"),
    (["grid", "missing.yaml", "--jobs", "0"],
     r"^rhm-memo grid: error: argument --jobs: expected a positive integer, got '0'$"),
    (["grid", "missing.yaml", "--threads", "-1"],
     r"^rhm-memo grid: error: argument --threads: expected a positive integer, got '-1'$"),
    (["grid", "missing.yaml", "--seeds", "x"], r"^rhm-memo grid: error: argument --seeds: invalid int value: 'x'$"),
    # rhm-memo dashboard
    (["dashboard", "--dry-run"], r"^rhm-memo dashboard: error: the following arguments are required: --entity$"),
    (["dashboard", "--entity", "E", "--dry-run", "--heights", "0"],
     r"^rhm-memo dashboard: error: argument --heights: expected a positive integer, got '0'$"),
    (["dashboard", "--entity", "E", "--dry-run", "--heights", "1.5"],
     r"^rhm-memo dashboard: error: argument --heights: expected a positive integer, got '1\.5'$"),
    (["dashboard", "--entity", "E", "--dry-run", "--windows", "x"],
     r"^rhm-memo dashboard: error: argument --windows: expected a positive integer, got 'x'$"),
    (["dashboard", "--entity", "E", "--dry-run", "--bogus"],
     r"^rhm-memo dashboard: error: unrecognized arguments: --bogus$"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "pattern"), OTHER_CASES, ids=[" ".join(a) for a, _ in OTHER_CASES])
def test_bad_input_of_the_other_commands_gives_one_line(inputs, no_run, capsys, args, pattern):
    """The exit's message is one line; argparse's subcommands (exit 2) print their usage, then the one line."""
    with pytest.raises(SystemExit) as excinfo:
        main(args)
    code = excinfo.value.code
    if isinstance(code, str):
        text = code
    else:
        assert code == 2
        text = capsys.readouterr().err.strip().splitlines()[-1]
    assert "\n" not in text and re.search(pattern, text), text


# ---------------------------------------------------------------------- the Python API: one-line ValueErrors
S = torch.tensor([1.0, 2.0])  # scores of two strings
NAN = torch.tensor([math.nan, 1.0])
MASK = torch.tensor([True, False])  # positives among two strings
X0 = torch.zeros(2, 8, dtype=torch.long)  # two strings of d = 8 tokens
DATA = {"v": 4, "n": 2, "m": 2, "s": 2, "L": 3, "train_size": 8, "test_size": 8, "batch_size": 4, "cache_dir": None}
INPUTS = BackboneInputs(4, 4, 8)
UNET = BackboneInputs(4, 4, 8, s=2, cond_schedule=(1.0, 0.5))
U, MK, G = UniformDiffusion(4, 5), MaskedDiffusion(4, 5), Grammar(4, 2, 2, 2, 3)  # T = 5; 256 strings of d = 8


def denoiser(x_t, cond):
    """Logits of the right shape (B, d, v = 4)."""
    return torch.zeros(*x_t.shape, 4)


def module(**kwargs) -> DiffusionModule:
    """A tiny module: v = 4, d = 8, T = 5."""
    return DiffusionModule(4, 8, 2, process=lambda v: UniformDiffusion(v, 5),
                           net=lambda i: DiffusionTransformer(i, 8, 1, 2), **kwargs)  # fmt: skip


def data(**kwargs) -> RHMDataModule:
    """A tiny data module (256 strings of d = 8) with ``kwargs`` changed."""
    return RHMDataModule(**{**DATA, **kwargs})


API_CASES = [
    # rhm_memo.metrics.privacy
    ("attack_auc empty", lambda: M.attack_auc(torch.tensor([]), S),
     r"the members' scores must be a non-empty 1-d tensor, got \(0,\)"),
    ("attack_auc 2-d", lambda: M.attack_auc(S, torch.ones(2, 2)),
     r"the non-members' scores must be a non-empty 1-d tensor, got \(2, 2\)"),
    ("attack_auc NaN", lambda: M.attack_auc(NAN, S), r"the members' scores contain NaN"),
    ("attack_auc list", lambda: M.attack_auc([1.0], S),
     r"the members' scores must be a non-empty 1-d tensor, got list"),
    ("tpr_at_fpr fpr<0", lambda: M.tpr_at_fpr(S, S, -0.1), r"fpr must be a number in \[0, 1\], got -0\.1"),
    ("tpr_at_fpr fpr>1", lambda: M.tpr_at_fpr(S, S, 1.5), r"fpr must be a number in \[0, 1\], got 1\.5"),
    ("tpr_at_fpr fpr str", lambda: M.tpr_at_fpr(S, S, "0.1"), r"fpr must be a number in \[0, 1\], got '0\.1'"),
    ("tpr_at_fpr fpr bool", lambda: M.tpr_at_fpr(S, S, True), r"fpr must be a number in \[0, 1\], got True"),
    ("tpr_at_fpr fpr NaN", lambda: M.tpr_at_fpr(S, S, math.nan), r"fpr must be a number in \[0, 1\], got nan"),
    ("tpr_at_fpr fpr None", lambda: M.tpr_at_fpr(S, S, None), r"fpr must be a number in \[0, 1\], got None"),
    ("tpr_at_fpr empty", lambda: M.tpr_at_fpr(S, torch.tensor([]), 0.1),
     r"the non-members' scores must be a non-empty"),
    ("MI shapes", lambda: M.membership_inference(S, S, S[:1], S),
     r"each side needs one log-probability per loss, got \(2,\) and \(1,\) \(members\)"),
    ("MI NaN log p", lambda: M.membership_inference(S, S, NAN, S), r"the members' log-probabilities contain NaN"),
    ("MI NaN loss", lambda: M.membership_inference(S, NAN, S, S), r"the non-members' losses contain NaN"),
    ("MI empty", lambda: M.membership_inference(S[:0], S, S[:0], S),
     r"the members' losses must be a non-empty 1-d tensor, got \(0,\)"),
    ("MI -inf log p", lambda: M.membership_inference(S, S, torch.tensor([-math.inf, 1.0]), S),
     r"the log-probabilities must be finite"),
    ("MI bins=0", lambda: M.membership_inference(S, S, S, S, bins=0), r"bins must be an integer >= 1, got 0"),
    ("MI bins=1.5", lambda: M.membership_inference(S, S, S, S, bins=1.5), r"bins must be an integer >= 1, got 1\.5"),
    ("MI bins=True", lambda: M.membership_inference(S, S, S, S, bins=True), r"bins must be an integer >= 1, got True"),
    ("MI fprs=[2]", lambda: M.membership_inference(S, S, S, S, fprs=[2]), r"fpr must be a number in \[0, 1\], got 2"),
    ("MI fprs=0.1", lambda: M.membership_inference(S, S, S, S, fprs=0.1),
     r"fprs must be a sequence of false-positive rates in \[0, 1\], got 0\.1"),
    # rhm_memo.metrics.prototypicality
    ("spearman lengths", lambda: M.spearman(S, S[:1]),
     r"x and y must be equal-length non-empty 1-d tensors, got \(2,\) and \(1,\)"),
    ("spearman empty", lambda: M.spearman(S[:0], S[:0]),
     r"x and y must be equal-length non-empty 1-d tensors, got \(0,\) and \(0,\)"),
    ("spearman 2-d", lambda: M.spearman(torch.ones(2, 2), torch.ones(2, 2)),
     r"x and y must be equal-length non-empty 1-d tensors, got \(2, 2\)"),
    ("spearman NaN", lambda: M.spearman(NAN, S), r"x and y must not contain NaN"),
    ("spearman list", lambda: M.spearman([1.0, 2.0], S), r"x and y must be 1-d tensors, got list and Tensor"),
    ("spearman_first_step NaN", lambda: M.spearman_first_step(torch.tensor([1, 2]), NAN), r"scores contain NaN"),
    ("auc float mask", lambda: M.auc(S, S), r"the mask must be a bool tensor, got torch\.float32"),
    ("auc NaN", lambda: M.auc(NAN, MASK), r"scores contain NaN"),
    ("auc lengths", lambda: M.auc(S, torch.tensor([True])),
     r"scores and the mask must be equal-length non-empty \(P,\) tensors"),
    ("fraction_by_quantile bins=0", lambda: M.fraction_by_quantile(S, MASK, 0), r"bins must be an integer >= 1, got 0"),
    ("fraction_by_quantile bins=1.5", lambda: M.fraction_by_quantile(S, MASK, 1.5),
     r"bins must be an integer >= 1, got 1\.5"),
    ("fraction_by_quantile inf", lambda: M.fraction_by_quantile(torch.tensor([math.inf, 1.0]), MASK),
     r"scores must be finite"),
    ("commonness_scores heights", lambda: M.commonness_scores(X0, 4, 2, [0]),
     r"heights must be a non-empty list of integers in 1\.\.L=3, got \[0\]"),
    # rhm_memo.metrics: memorization, substrings, null model, onsets
    ("copy_counts index", lambda: M.copy_counts(torch.tensor([0, 5]), 2),
     r"copy_index entries must be -1 or a training index in 0\.\.2"),
    ("nearest_hamming d", lambda: M.nearest_hamming(X0, X0[:, :7], 4), r"train must have shape \(N, 8\), got \(2, 7\)"),
    ("hamming_histogram range", lambda: M.hamming_histogram(torch.tensor([0, 9]), 8),
     r"distances must lie in 0\.\.d = 0\.\.8"),
    ("fraction_within empty", lambda: M.fraction_within(torch.tensor([]), 1), r"distances is empty"),
    ("TrainIndex tokens", lambda: M.TrainIndex(torch.full((2, 8), 5), 4),
     r"train must hold tokens in 0\.\.v-1 = 0\.\.3"),
    ("TrainIndex float", lambda: M.TrainIndex(torch.zeros(2, 8), 4),
     r"train must be an integer tensor of shape \(N, d\), got dtype torch\.float32"),
    ("slop_index top_fraction=0", lambda: M.slop_index(S, S, 0), r"top_fraction must be in \(0, 1\], got 0"),
    ("entropy negative", lambda: M.entropy(torch.tensor([-0.5, 1.5])),
     r"p must be a probability vector: it has NaN or negative entries"),
    ("kl_on_support shapes", lambda: M.kl_on_support(S, S[:1]),
     r"p and q must be aligned \(K,\) tensors, got \(2,\) and \(1,\)"),
    ("expected_ever_memorized draws", lambda: M.expected_ever_memorized(-S, -1),
     r"num_draws must be an integer >= 0, got -1"),
    ("NullModel draws", lambda: M.NullModel(-S, {}, -1, 0), r"draws must be an integer >= 0, got -1"),
    ("onset_step order", lambda: M.onset_step([2, 1], [0.1, 0.2], 0.1),
     r"steps must be positive and strictly increasing"),
    ("onset_step lengths", lambda: M.onset_step([1, 2], [0.1], 0.1),
     r"steps and copy_fractions must be equal-length non-empty 1-D sequences, got lengths 2 and 1"),
    ("onset_step text", lambda: M.onset_step(["a"], [0.1], 0.1),
     r"steps and copy_fractions must be 1-D sequences of numbers"),
    # rhm_memo.diffusion: UniformDiffusion, MaskedDiffusion
    ("uniform vocab_size=1", lambda: UniformDiffusion(1), r"vocab_size must be an integer >= 2, got 1"),
    ("uniform num_steps=0", lambda: UniformDiffusion(4, 0), r"num_steps must be an integer >= 1, got 0"),
    ("uniform beta_start NaN", lambda: UniformDiffusion(4, 5, math.nan),
     r"beta_start must be a number in \(0, 1\), got nan"),
    ("uniform beta_end=1", lambda: UniformDiffusion(4, 5, 0.1, 1.0),
     r"beta_end must be a number in \(0, 1\), got 1\.0"),
    ("uniform beta_end<beta_start", lambda: UniformDiffusion(4, 5, 0.1, 0.01),
     r"beta_end must be >= beta_start, got beta_start=0\.1, beta_end=0\.01"),
    ("uniform schedule", lambda: UniformDiffusion(4, 5, schedule="x"),
     r"schedule must be one of \('ours', 'paper'\), got 'x'"),
    ("uniform nelbo num_times=0", lambda: U.negative_elbo(denoiser, X0, 0),
     r"num_times must be an integer >= 1, got 0"),
    ("uniform nelbo num_times>T", lambda: U.negative_elbo(denoiser, X0, 6),
     r"num_times must be at most the number of steps T=5, got 6"),
    ("uniform nelbo num_times=1.5", lambda: U.negative_elbo(denoiser, X0, 1.5),
     r"num_times must be an integer >= 1, got 1\.5"),
    ("uniform nelbo float x0", lambda: U.negative_elbo(denoiser, X0.float(), 2),
     r"x0 must be a \(B, d\) integer tensor of token ids, got torch\.float32 tensor of shape \(2, 8\)"),
    ("uniform nelbo 1-d x0", lambda: U.negative_elbo(denoiser, X0[0], 2),
     r"x0 must be a \(B, d\) integer tensor of token ids, got torch\.int64 tensor of shape \(8,\)"),
    ("uniform nelbo bool x0", lambda: U.negative_elbo(denoiser, X0.bool(), 2),
     r"x0 must be a \(B, d\) integer tensor .* torch\.bool"),
    ("uniform nelbo empty x0", lambda: U.negative_elbo(denoiser, X0[:0], 2),
     r"x0 must be non-empty, got shape \(0, 8\)"),
    ("uniform nelbo list x0", lambda: U.negative_elbo(denoiser, [[0] * 8], 2),
     r"x0 must be a \(B, d\) integer tensor of token ids, got <class 'list'>"),
    ("uniform nelbo denoiser", lambda: U.negative_elbo(lambda x, c: torch.zeros(*x.shape, 3), X0, 2),
     r"denoiser must return logits of shape \(B, d, v\) = \(4, 8, 4\), got \(4, 8, 3\)"),
    ("uniform loss n_trajectories=0", lambda: U.loss(denoiser, X0, 0),
     r"n_trajectories must be an integer >= 1, got 0"),
    ("uniform loss_at t=0", lambda: U.loss_at(denoiser, X0, torch.tensor([0, 1])),
     r"t must lie in 1\.\.5, got values in 0\.\.1"),
    ("uniform loss_at float t", lambda: U.loss_at(denoiser, X0, S),
     r"t must hold integer steps for UniformDiffusion, got dtype torch\.float32"),
    ("uniform loss_at t shape", lambda: U.loss_at(denoiser, X0, torch.tensor([1])),
     r"t must be a tensor of shape \(B,\) = \(2,\), got \(1,\)"),
    ("uniform window", lambda: U.window_time(2, 5, 5), r"window must be an integer in 0\.\.4, got 5"),
    ("uniform num_windows>T", lambda: U.window_time(2, 0, 6), r"num_windows=6 exceeds the number of steps T=5"),
    ("uniform sample steps", lambda: U.sample(denoiser, 2, 8, torch.Generator(), steps=3),
     r"UniformDiffusion samples with steps = num_steps = 5 only, got 3"),
    ("uniform sample generator", lambda: U.sample(denoiser, 2, 8, 0),
     r"sample\(\) needs an explicit torch\.Generator, got int"),
    ("uniform sample num=0", lambda: U.sample(denoiser, 0, 8, torch.Generator()),
     r"num must be an integer >= 1, got 0"),
    ("masked eps=0", lambda: MaskedDiffusion(4, 5, eps=0), r"eps must be a number in \(0, 1\), got 0"),
    ("masked reuse_predictions=1", lambda: MaskedDiffusion(4, 5, reuse_predictions=1),
     r"reuse_predictions must be a bool, got 1"),
    ("masked nelbo num_times=0", lambda: MK.negative_elbo(denoiser, X0, 0),
     r"num_times must be an integer >= 1, got 0"),
    ("masked nelbo float x0", lambda: MK.negative_elbo(denoiser, X0.float(), 2),
     r"x0 must be a \(B, d\) integer tensor of token ids, got torch\.float32"),
    ("masked nelbo 1-d x0", lambda: MK.negative_elbo(denoiser, X0[0], 2),
     r"x0 must be a \(B, d\) integer tensor of token ids, got torch\.int64 tensor of shape \(8,\)"),
    ("masked loss_at t>1", lambda: MK.loss_at(denoiser, X0, torch.tensor([1.5, 0.5])),
     r"t must lie in \(0, 1\], got values in 0\.5\.\.1\.5"),
    ("masked loss_at int t", lambda: MK.loss_at(denoiser, X0, torch.tensor([1, 1])),
     r"t must hold float times in \(0, 1\] for MaskedDiffusion, got dtype torch\.int64"),
    ("masked sample steps=0", lambda: MK.sample(denoiser, 2, 8, torch.Generator(), steps=0),
     r"steps must be an integer >= 1, got 0"),
    # rhm_memo.module.DiffusionModule
    ("module vocab_size=1", lambda: DiffusionModule(1, 8), r"vocab_size must be an integer >= 2, got 1"),
    ("module seq_len=0", lambda: DiffusionModule(4, 0), r"seq_len must be an integer >= 1, got 0"),
    ("module noise_seed=1.5", lambda: module(noise_seed=1.5), r"noise_seed must be an integer seed .*, got 1\.5"),
    ("module val_seed str", lambda: module(val_seed="a"), r"val_seed must be an integer seed .*, got 'a'"),
    ("module compile str", lambda: module(compile="yes"), r"compile must be True or False, got 'yes'"),
    ("module nelbo batch_size=0", lambda: module().negative_elbo(X0, batch_size=0),
     r"batch_size must be an integer >= 1, got 0"),
    ("module nelbo num_times=0", lambda: module().negative_elbo(X0, 0), r"num_times must be an integer >= 1, got 0"),
    ("module nelbo list x0", lambda: module().negative_elbo([[0] * 8]),
     r"x0 must be a torch\.Tensor of shape \(N, d\), got list"),
    ("module nelbo 1-d x0", lambda: module().negative_elbo(X0[0]), r"x0 must have shape \(N, 8\), got \(8,\)"),
    ("module nelbo d", lambda: module().negative_elbo(X0[:, :7]), r"x0 must have shape \(N, 8\), got \(2, 7\)"),
    ("module nelbo float x0", lambda: module().negative_elbo(X0.float()),
     r"x0 must be an integer tensor of shape \(N, d\), got dtype torch\.float32"),
    ("module nelbo generator", lambda: module().negative_elbo(X0, generator="a"),
     r"generator must be a torch\.Generator, an int seed or None, got str"),
    ("module sample num=-1", lambda: module().sample(-1, 0), r"num must be an integer >= 0, got -1"),
    ("module sample num=1.5", lambda: module().sample(1.5, 0), r"num must be an integer >= 0, got 1\.5"),
    ("module sample batch_size=0", lambda: module().sample(2, 0, batch_size=0),
     r"batch_size must be an integer >= 1, got 0"),
    ("module sample generator", lambda: module().sample(2, "a"),
     r"sample\(\) needs an explicit torch\.Generator, got str"),
    # rhm_memo.callbacks.PrivacyMonitor
    ("privacy num_strings=0", lambda: PrivacyMonitor(num_strings=0), r"num_strings must be an integer >= 1, got 0"),
    ("privacy num_strings str", lambda: PrivacyMonitor(num_strings="a"),
     r"num_strings must be an integer >= 1, got 'a'"),
    ("privacy num_times=0", lambda: PrivacyMonitor(num_times=0), r"num_times must be an integer >= 1, got 0"),
    ("privacy num_times=1.5", lambda: PrivacyMonitor(num_times=1.5), r"num_times must be an integer >= 1, got 1\.5"),
    ("privacy bins=0", lambda: PrivacyMonitor(bins=0), r"bins must be an integer >= 1, got 0"),
    ("privacy bins=True", lambda: PrivacyMonitor(bins=True), r"bins must be an integer >= 1, got True"),
    ("privacy batch_size=-1", lambda: PrivacyMonitor(batch_size=-1), r"batch_size must be an integer >= 1, got -1"),
    ("privacy seed=1.5", lambda: PrivacyMonitor(seed=1.5), r"seed must be an integer seed .*, got 1\.5"),
    ("privacy use_ema str", lambda: PrivacyMonitor(use_ema="no"), r"use_ema must be True or False, got 'no'"),
    ("privacy per_octave=-1", lambda: PrivacyMonitor(per_octave=-1), r"per_octave must be an integer >= 0, got -1"),
    ("privacy every_n_steps=0", lambda: PrivacyMonitor(every_n_steps=0),
     r"every_n_steps must be an integer >= 1, got 0"),
    ("privacy start_step=0", lambda: PrivacyMonitor(start_step=0), r"start_step must be an integer >= 1, got 0"),
    ("privacy at_end str", lambda: PrivacyMonitor(at_end="no"), r"at_end must be True or False, got 'no'"),
    # rhm_memo.callbacks.PredictionEvaluator
    ("evaluator null_draws=-1", lambda: PredictionEvaluator(null_draws=-1),
     r"null_draws must be an integer >= 0, got -1"),
    ("evaluator null_draws=1.5", lambda: PredictionEvaluator(null_draws=1.5),
     r"null_draws must be an integer >= 0, got 1\.5"),
    ("evaluator evaluate str", lambda: PredictionEvaluator(evaluate="no"), r"evaluate must be True or False, got 'no'"),
    ("evaluator near_copies=1", lambda: PredictionEvaluator(near_copies=1),
     r"near_copies must be True or False, got 1"),
    # rhm_memo.callbacks.MemorizationMonitor
    ("memorization num_samples=0", lambda: MemorizationMonitor(num_samples=0),
     r"num_samples must be an integer >= 1, got 0"),
    ("memorization sample_steps=0", lambda: MemorizationMonitor(sample_steps=0),
     r"sample_steps must be an integer >= 1, got 0"),
    ("memorization batch_size=0", lambda: MemorizationMonitor(batch_size=0),
     r"batch_size must be an integer >= 1, got 0"),
    ("memorization bins=0", lambda: MemorizationMonitor(bins=0), r"bins must be an integer >= 1, got 0"),
    ("memorization bins=1.5", lambda: MemorizationMonitor(bins=1.5), r"bins must be an integer >= 1, got 1\.5"),
    ("memorization near_copy_k=[-1]", lambda: MemorizationMonitor(near_copy_k=[-1]),
     r"near_copy_k must be a list of Hamming distances \(integers >= 0\), got \[-1\]"),
    ("memorization near_copy_k=[1.5]", lambda: MemorizationMonitor(near_copy_k=[1.5]),
     r"near_copy_k must be a list of Hamming distances \(integers >= 0\), got \[1\.5\]"),
    ("memorization near_copy_k=2", lambda: MemorizationMonitor(near_copy_k=2),
     r"near_copy_k must be a list of Hamming distances \(integers >= 0\), got 2"),
    ("memorization stop_at=0", lambda: MemorizationMonitor(stop_at=0),
     r"stop_at must be a copy fraction in \(0, 1\] or None, got 0"),
    ("memorization stop_at=True", lambda: MemorizationMonitor(stop_at=True),
     r"stop_at must be a copy fraction in \(0, 1\] or None, got True"),
    ("memorization stop_at NaN", lambda: MemorizationMonitor(stop_at=math.nan),
     r"stop_at must be a copy fraction in \(0, 1\] or None, got nan"),
    ("memorization null_draws=1.5", lambda: MemorizationMonitor(null_draws=1.5),
     r"null_draws must be an integer >= 0, got 1\.5"),
    ("memorization seed=1.5", lambda: MemorizationMonitor(seed=1.5), r"seed must be an integer seed .*, got 1\.5"),
    ("memorization near_copies str", lambda: MemorizationMonitor(near_copies="no"),
     r"near_copies must be True or False, got 'no'"),
    ("memorization wandb_tables=0", lambda: MemorizationMonitor(wandb_tables=0),
     r"wandb_tables must be True or False, got 0"),
    # rhm_memo.callbacks.SubstringMonitor
    ("substrings num_samples=0", lambda: SubstringMonitor(num_samples=0),
     r"num_samples must be an integer >= 1, got 0"),
    ("substrings batch_size=0", lambda: SubstringMonitor(batch_size=0), r"batch_size must be an integer >= 1, got 0"),
    ("substrings top_blocks=-1", lambda: SubstringMonitor(top_blocks=-1),
     r"top_blocks must be an integer >= 0, got -1"),
    ("substrings max_true_blocks=-1", lambda: SubstringMonitor(max_true_blocks=-1),
     r"max_true_blocks must be an integer >= 0, got -1"),
    ("substrings top_fraction=0", lambda: SubstringMonitor(top_fraction=0),
     r"top_fraction must be a number in \(0, 1\], got 0"),
    ("substrings top_fraction=2", lambda: SubstringMonitor(top_fraction=2),
     r"top_fraction must be a number in \(0, 1\], got 2"),
    ("substrings use_ema str", lambda: SubstringMonitor(use_ema="no"), r"use_ema must be True or False, got 'no'"),
    # rhm_memo.callbacks.EvalSchedule, SampleSpec
    ("schedule per_octave=-1", lambda: EvalSchedule(per_octave=-1), r"per_octave must be an integer >= 0, got -1"),
    ("schedule per_octave=1.5", lambda: EvalSchedule(per_octave=1.5), r"per_octave must be an integer >= 0, got 1\.5"),
    ("schedule every_n_steps=0", lambda: EvalSchedule(every_n_steps=0),
     r"every_n_steps must be an integer >= 1, got 0"),
    ("schedule start_step=0", lambda: EvalSchedule(start_step=0), r"start_step must be an integer >= 1, got 0"),
    ("schedule at_end str", lambda: EvalSchedule(at_end="no"), r"at_end must be True or False, got 'no'"),
    ("schedule steps(1.5)", lambda: EvalSchedule().steps(1.5), r"max_step must be an integer >= 0, got 1\.5"),
    ("spec sample_steps=0", lambda: SampleSpec(sample_steps=0), r"sample_steps must be an integer >= 1, got 0"),
    ("spec seed=True", lambda: SampleSpec(seed=True), r"seed must be an integer seed .*, got True"),
    # rhm_memo.data.RHMDataModule
    ("data predict_size=0", lambda: data(predict_size=0), r"predict_size must be an integer >= 1, got 0"),
    ("data predict_size=-1", lambda: data(predict_size=-1), r"predict_size must be an integer >= 1, got -1"),
    ("data predict_size=1.5", lambda: data(predict_size=1.5), r"predict_size must be an integer >= 1, got 1\.5"),
    ("data train_size=True", lambda: data(train_size=True), r"train_size must be an integer >= 1, got True"),
    ("data num_workers=-1", lambda: data(num_workers=-1), r"num_workers must be an integer >= 0, got -1"),
    ("data batch_size>train_size", lambda: data(batch_size=9),
     r"batch_size=9 is larger than the training set \(train_size=8\)"),
    ("data v=0", lambda: data(v=0), r"v must be an integer >= 1, got 0"),
    ("data n=0", lambda: data(n=0), r"n must be an integer >= 1, got 0"),
    ("data m=0", lambda: data(m=0), r"m must be an integer >= 1, got 0"),
    ("data s=1", lambda: data(s=1), r"s must be an integer >= 2, got 1"),
    ("data L=1.5", lambda: data(L=1.5), r"L must be an integer >= 1, got 1\.5"),
    ("data m*v>v**s", lambda: data(v=2, n=1, m=3),
     r"need m\*v <= v\*\*s for unambiguous rules at levels >= 2, got m\*v = 6 > v\*\*s = 4"),
    ("data seed_data=1.5", lambda: data(seed_data=1.5), r"seed_data must be an integer seed .*, got 1\.5"),
    ("data seed_rules str", lambda: data(seed_rules="a"), r"seed_rules must be an integer seed .*, got 'a'"),
    ("data unique str", lambda: data(unique="no"), r"unique must be True or False, got 'no'"),
    ("data cache_dir=3", lambda: data(cache_dir=3), r"cache_dir must be a folder path or None, got 3"),
    ("data iid test_size", lambda: data(unique=False, test_size=256),
     r"test_size = 256 leaves no room for training strings among the 256 distinct strings"),
    ("data root_prior sum", lambda: data(root_prior=[0.5, 0.6]),
     r"root_prior must sum to 1 along its last axis \(tolerance 1e-06\), got sums 1\.1"),
    ("data root_prior shape", lambda: data(root_prior=[1.0]), r"root_prior must have shape \(2,\), got \(1,\)"),
    ("data rule_probs level", lambda: data(rule_probs={4: [0.5, 0.5]}),
     r"rule_probs: levels must be integers in 1\.\.L=3 \(counted from the top\), got 4"),
    ("data rule_probs negative", lambda: data(rule_probs={1: [1.5, -0.5]}),
     r"rule_probs\[1\] must be finite and non-negative"),
    ("data zipf and rule_probs", lambda: data(zipf_exponent=1.0, zipf_levels=[1], rule_probs={1: [0.5, 0.5]}),
     r"levels \[1\] are given both a Zipf law and explicit rule_probs"),
    ("data zipf_exponent NaN", lambda: data(zipf_exponent=math.nan, zipf_levels=[1]),
     r"zipf_exponent must be a finite real >= 0, got nan"),
    ("data zipf_exponent str", lambda: data(zipf_exponent="a", zipf_levels=[1]),
     r"zipf_exponent must be a finite real >= 0, got 'a'"),
    # rhm_memo.rhm.Grammar
    ("grammar v=0", lambda: Grammar(0, 2, 2, 2, 3), r"v must be an integer >= 1, got 0"),
    ("grammar sample num=-1", lambda: G.sample(-1, 0), r"num must be >= 0, got -1"),
    ("grammar sample_unique too many", lambda: G.sample_unique(300, 0),
     r"cannot draw 300 distinct strings: the grammar produces 256 distinct strings"),
    ("grammar log_prob tokens", lambda: G.log_prob(torch.full((1, 8), 4)),
     r"strings must hold tokens in 0\.\.v-1 = 0\.\.3"),
    ("grammar log_prob shape", lambda: G.log_prob(X0[:, :7]), r"strings must have shape \(N, 8\), got \(2, 7\)"),
    ("grammar block_probabilities h=0", lambda: G.block_probabilities(0),
     r"height must be an integer in 1\.\.L=3, got 0"),
    ("grammar num_blocks h=9", lambda: G.num_blocks(9), r"height must be an integer in 1\.\.L=3, got 9"),
    ("grammar enumerate max_strings", lambda: G.enumerate(1),
     r"the grammar produces 256 strings, more than max_strings=1"),
    ("grammar from_rules empty", lambda: Grammar.from_rules([]), r"rules must hold at least one level \(L >= 1\)"),
    # rhm_memo.models
    ("inputs input_size=0", lambda: BackboneInputs(0, 4, 8), r"input_size must be an integer >= 1, got 0"),
    ("inputs s=1", lambda: BackboneInputs(4, 4, 8, s=1), r"s must be an integer >= 2, got 1"),
    ("inputs cond_schedule str", lambda: BackboneInputs(4, 4, 8, cond_schedule="ab"),
     r"cond_schedule must be a sequence of floats, got str"),
    ("transformer width=0", lambda: DiffusionTransformer(INPUTS, width=0), r"width must be an integer >= 1, got 0"),
    ("transformer heads", lambda: DiffusionTransformer(INPUTS, width=8, heads=3),
     r"width must be divisible by heads, got width=8, heads=3"),
    ("transformer dropout=1", lambda: DiffusionTransformer(INPUTS, width=8, heads=2, dropout=1.0),
     r"dropout must be in \[0, 1\), got 1\.0"),
    ("transformer dropout str", lambda: DiffusionTransformer(INPUTS, width=8, heads=2, dropout="a"),
     r"dropout must be in \[0, 1\), got 'a'"),
    ("transformer mlp_ratio=0", lambda: DiffusionTransformer(INPUTS, width=8, heads=2, mlp_ratio=0),
     r"mlp_ratio must be a finite number > 0 .*, got 0"),
    ("transformer mlp_ratio inf", lambda: DiffusionTransformer(INPUTS, width=8, heads=2, mlp_ratio=math.inf),
     r"mlp_ratio must be a finite number > 0 .*, got inf"),
    ("unet without s", lambda: HierarchicalUNet(INPUTS), r"HierarchicalUNet needs the grammar's branching factor s"),
    ("unet seq_len", lambda: HierarchicalUNet(BackboneInputs(4, 4, 6, s=2)),
     r"seq_len must be a power of s, got seq_len=6, s=2"),
    ("unet width=0", lambda: HierarchicalUNet(UNET, width=0), r"width must be an integer >= 1, got 0"),
    ("unet paper_time_schedule", lambda: HierarchicalUNet(UNET, paper_time_schedule=(0.2, 0.1, 10)),
     r"paper_time_schedule must be \(β_min, β_max, T'\) with 0 < β_min < β_max < 1, .*got \(0\.2, 0\.1, 10\)"),
    # rhm_memo.report: run directories
    ("load_run no metrics.jsonl", lambda: load_run("norun"), r"norun is not a run directory \(no metrics\.jsonl\)"),
    ("load_run missing folder", lambda: load_run("missing"), r"missing is not a run directory \(no metrics\.jsonl\)"),
    ("load_run schema", lambda: load_run("badschema"),
     r"badschema/metrics\.jsonl:1: record schema 99 is not supported \(this report reads schema 1"),
    ("load_run step", lambda: load_run("badstep"), r"badstep/metrics\.jsonl:1: 'step' must be an integer, got 'abc'"),
    ("load_run JSON", lambda: load_run("badjson"),
     r"badjson/metrics\.jsonl:1 is not valid JSON \(.*\); only the last line may be truncated"),
    ("load_run not an object", lambda: load_run("notobject"), r"notobject/metrics\.jsonl:1 is not a JSON object"),
    ("load_run no monitor", lambda: load_run("nomonitor"),
     r"nomonitor/metrics\.jsonl:1: a record needs 'monitor' and 'step'"),
    ("load_run config.yaml", lambda: load_run("badconfig"), r"badconfig/config\.yaml is not valid YAML \("),
    ("load_run memorization.npz", lambda: load_run("badnpz"),
     r"badnpz/memorization\.npz is not a readable \.npz file of the monitors"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "pattern"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_bad_api_input_raises_one_line(inputs, call, pattern):
    with pytest.raises(ValueError) as excinfo:
        call()
    text = str(excinfo.value)
    assert "\n" not in text and re.search(pattern, text), text


def test_the_tables_are_large():
    """The issue's reviewer tried 189 bad inputs: the tables hold at least as many."""
    total = len(FIT_CASES) + len(RUN_CASES) + len(SETUP_CASES) + len(OTHER_CASES) + len(API_CASES)
    assert total >= 189, total
