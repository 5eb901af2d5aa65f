"""Bad inputs at the command line end with one line that names the parameter, the value and what is allowed;
``--debug`` shows the traceback instead. A table: arguments → the expected message."""

import re
import sys

import pytest
import yaml

from rhm_memo.cli import main

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

FIT_CASES = [
    (["--data.train_size", "0"], r"train_size must be an integer >= 1, got 0"),
    (["--data.test_size", "-1"], r"test_size must be an integer >= 0, got -1"),
    (["--data.batch_size", "16"], r"batch_size=16 is larger than the training set \(train_size=8\)"),
    (["--data.eval_batch_size", "0"], r"eval_batch_size must be an integer >= 1, got 0"),
    (["--data.L", "0"], r"L must be an integer >= 1, got 0"),
    (["--data.v", "1"], r"need m\*n <= v\*\*s for unambiguous level-1 rules"),
    (["--data.train_size", "300"], r"train_size \+ test_size = 308 exceeds the 256 distinct strings"),
    (["--data.zipf_exponent", "1.0"], r"zipf_exponent=1\.0 has no effect without zipf_levels"),
    (["--data.zipf_exponent", "-1", "--data.zipf_levels", "[1]"], r"zipf_exponent must be a finite real >= 0"),
    (["--data.zipf_exponent", "1", "--data.zipf_levels", "[9]"], r"levels must be integers in 1\.\.L=3"),
    (["--model.n_trajectories", "0"], r"n_trajectories must be an integer >= 1, got 0"),
    (["--model.val_windows", "0"], r"val_windows must be an integer >= 1, got 0"),
    (["--model.process.init_args.num_steps", "0"], r"num_steps must be an integer >= 1, got 0"),
    (["--model.process.init_args.beta_start", "1.5"], r"beta_start must be a number in \(0, 1\), got 1\.5"),
    (["--model.net.init_args.width", "0"], r"width must be an integer >= 1, got 0"),
    (["--model.net.init_args.heads", "3"], r"width must be divisible by heads, got width=16, heads=3"),
    (["--trainer.max_steps", "-5"], r"`max_steps` must be a non-negative integer or -1"),
    (["--ckpt_path", "/nonexistent/run.ckpt"], r"Checkpoint file not found: /nonexistent/run\.ckpt"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.num_samples", "0"],
     r"^num_samples must be an integer >= 1, got 0"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.batch_size", "-1"], r"^batch_size must be an integer"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.per_octave", "-1"], r"^per_octave must be an integer"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.start_step", "0"], r"^start_step must be an integer"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.null_draws", "-1"], r"^null_draws must be an integer"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.stop_at", "2"], r"^stop_at must be a copy fraction"),
    ([f"--trainer.callbacks+={MONITOR}", "--trainer.callbacks.every_n_steps", "0"],
     r"^every_n_steps must be an integer >= 1"),
]  # fmt: skip


def _message(excinfo) -> str:
    text = str(excinfo.value.code)
    assert "\n" not in text and text.startswith("rhm-memo: error: ") and text.endswith("(--debug shows the traceback)")
    return text.removeprefix("rhm-memo: error: ")


@pytest.mark.parametrize(("args", "pattern"), FIT_CASES, ids=[" ".join(a)[-60:] for a, _ in FIT_CASES])
def test_bad_fit_input_gives_one_line(tmp_path, monkeypatch, args, pattern):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["rhm-memo"])  # LightningCLI gets its args from main's list only
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    with pytest.raises(SystemExit) as excinfo:
        main(["fit", "--config", "cfg.yaml", *args])
    assert re.search(pattern, _message(excinfo)), _message(excinfo)


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["rhm-memo"])  # LightningCLI gets its args from main's list only
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    with pytest.raises(ValueError, match="train_size must be an integer >= 1"):
        main(["fit", "--debug", "--config", "cfg.yaml", "--data.train_size", "0"])
    monkeypatch.setenv("RHM_MEMO_DEBUG", "1")
    with pytest.raises(ValueError, match="train_size must be an integer >= 1"):
        main(["fit", "--config", "cfg.yaml", "--data.train_size", "0"])


OTHER_CASES = [
    (["data", "--config", "missing.yaml"], r"missing\.yaml"),
    (["data", "--config", "cfg.yaml", "--data.train_size", "0"], r"train_size must be an integer >= 1"),
    (["report", "not-a-run"], r"not-a-run is not a run directory \(no metrics\.jsonl\)"),
    (["report", "--page", "missing.md"], r"missing\.md"),
]


@pytest.mark.parametrize(("args", "pattern"), OTHER_CASES, ids=[" ".join(a) for a, _ in OTHER_CASES])
def test_bad_input_of_the_other_commands_gives_one_line(tmp_path, monkeypatch, args, pattern):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["rhm-memo"])  # LightningCLI gets its args from main's list only
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    with pytest.raises(SystemExit) as excinfo:
        main(args)
    text = str(excinfo.value.code)
    assert "\n" not in text and re.search(pattern, text), text
