"""The report's membership-inference statistics: regimes, per-run statistics, the table's tests, the figure."""

import json
import math

import pytest
from scipy import stats
from test_report import privacy_record

from rhm_memo.report import load_run
from rhm_memo.report.figures import plot_privacy
from rhm_memo.report.groups import Group
from rhm_memo.report.privacy import privacy_statistics, privacy_table, regime_steps
from rhm_memo.report.records import Run
from rhm_memo.report.stats import fmt_p

STEPS = [1, 2, 4, 8, 16, 32]


def make(fractions, privacy, name="run"):
    memorization = [{"monitor": "memorization", "step": s, "copy_fraction": f} for s, f in zip(STEPS, fractions)]
    return Run(name=name, path=None, memorization=memorization, substrings=[], privacy=privacy)


def test_regimes_are_the_last_evaluation_below_one_percent_and_the_first_at_ten():
    assert regime_steps(make([0, 0.005, 0.02, 0.05, 0.12, 0.3], [])) == {"generalization": 2, "memorization": 16}
    assert regime_steps(make([0.02, 0.05, 0.2], [])) == {"generalization": None, "memorization": 4}
    assert regime_steps(make([0, 0, 0.05], [])) == {"generalization": 2, "memorization": None}
    assert regime_steps(make([0, 0, 0], [])) == {"generalization": None, "memorization": None}


def test_statistics_at_the_regimes_evaluations():
    run = make([0, 0.005, 0.02, 0.05, 0.12, 0.3],
               [privacy_record(2, [0.5, 0.7], spearman=0.2), privacy_record(16, [0.6, 0.5], auc_loss=0.7),
                privacy_record(32, [0.0, 1.0])])  # fmt: skip
    out = privacy_statistics(run)
    assert out["exposure gradient@generalization"] == pytest.approx(0.2)
    assert out["exposure gradient@memorization"] == pytest.approx(-0.1)
    assert out["exposure gradient: memorization − generalization"] == pytest.approx(-0.3)
    assert out["spearman(calibrated, log p)@generalization"] == 0.2
    assert out["auc_loss − auc_grammar@memorization"] == pytest.approx(0.18)
    assert (out["step@generalization"], out["step@memorization"]) == (2, 16)
    empty_bins = make([0, 0.005, 0.02, 0.05, 0.12], [privacy_record(2, [None, 0.7, None, 0.6, None])])
    assert privacy_statistics(empty_bins)["exposure gradient@generalization"] == pytest.approx(-0.1)  # non-empty
    one_bin = make([0, 0.005, 0.02, 0.05, 0.12], [privacy_record(2, [None, 0.7, None])])
    assert "exposure gradient@generalization" not in privacy_statistics(one_bin)


def test_table_p_values_are_scipys_one_sample_and_paired_t_tests():
    gen, mem = [0.05, 0.1, -0.02, 0.08], [0.2, 0.3, 0.1, 0.15]
    runs = [make([0, 0.005, 0.02, 0.05, 0.12, 0.3],
                 [privacy_record(2, [0.5, 0.5 + g]), privacy_record(16, [0.5, 0.5 + m])], name=f"s{i}")
            for i, (g, m) in enumerate(zip(gen, mem))]  # fmt: skip
    table = privacy_table([Group("setting", runs)])
    rows = {line.split(" | ")[1]: line.split(" | ") for line in table.splitlines()[2:]}
    assert rows["exposure gradient@memorization"][2] == "4"
    assert rows["exposure gradient@memorization"][5].rstrip(" |") == fmt_p(stats.ttest_1samp(mem, 0).pvalue)
    paired = stats.ttest_rel(mem, gen).pvalue
    assert rows["exposure gradient: memorization − generalization"][5].rstrip(" |") == fmt_p(paired)
    assert rows["auc_calibrated@memorization"][4] == "0.5"
    assert privacy_table([Group("none", [make([0.5], [])])]).startswith("_no run")


def test_load_run_keeps_privacy_records_and_the_figure_draws_them(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines = [{"schema": 1, "monitor": "memorization", "step": s, "copy_fraction": f}
             for s, f in zip(STEPS, [0, 0.005, 0.02, 0.05, 0.12, 0.3])]  # fmt: skip
    lines += [privacy_record(s, [0.5, 0.6]) for s in STEPS]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    run = load_run(run_dir)
    assert [r["step"] for r in run.privacy] == STEPS
    paths = plot_privacy([run], tmp_path / "figures")
    assert [p.name for p in paths] == ["privacy.png", "privacy.svg"] and all(p.stat().st_size for p in paths)
    run.privacy = []
    assert plot_privacy([run], tmp_path / "none") == []
    assert not math.isnan(privacy_statistics(load_run(run_dir))["auc_calibrated@memorization"])
