"""Speed and memory of the metrics, printed as a table.

    python bench/metrics.py            # all cases
    python bench/metrics.py --quick    # skip the two scale cases

Paper grammar (v=n=6, m=4, s=2, L=4, Zipf a=1 at level 1), P = 2·10^4 unique training strings, 1024
held-out strings, B = 10^4 "generated" strings: 30% copies of training strings, 50% fresh grammar samples,
20% grammar samples with two random tokens changed (partly invalid). Each case runs in a fresh subprocess
(bench/common.py); index building is timed separately from the per-evaluation work where that matters.
"""

from __future__ import annotations

import argparse
import json

from common import measure, print_table, run_in_subprocess


def _setup(train_size: int, num_gen: int):
    import torch

    from rhm_memo.rhm import Grammar

    torch.set_num_threads(2)
    g = Grammar(v=6, n=6, m=4, s=2, L=4, seed=1951, zipf_exponent=1.0, zipf_levels=[1])
    train = g.sample_unique(train_size, 1)
    test = g.sample_unique(1024, 2, exclude=train)
    gen_gen = torch.Generator().manual_seed(3)
    copies = train[torch.randint(0, train_size, (int(0.3 * num_gen),), generator=gen_gen)]
    fresh = g.sample(int(0.5 * num_gen), 4)
    noisy = g.sample(num_gen - copies.shape[0] - fresh.shape[0], 5)
    rows = torch.arange(noisy.shape[0]).repeat_interleave(2)
    cols = torch.randint(0, 16, rows.shape, generator=gen_gen)
    noisy[rows, cols] = torch.randint(0, 6, rows.shape, generator=gen_gen)
    return g, train, test, torch.cat([copies, fresh, noisy])


def evaluate_all(g, train, test, gen, train_index, block_index, block_probs):
    """Everything one evaluation computes except nearest-Hamming (indices and grammar truth built once)."""
    from rhm_memo import metrics as M

    copy_index = train_index.lookup(gen)
    num_train = train.shape[0]
    out = {"copy_fraction": M.copy_fraction(copy_index), "distinct": M.distinct_memorized(copy_index)}
    counts = M.copy_counts(copy_index, num_train)
    first = M.update_first_step(M.ever_memorized(counts, 0).long() * 0 - 1, copy_index, 1)
    out["fraction_distinct"] = M.fraction_distinct(gen)
    out["block_copies_gen"] = block_index.copy_fractions(gen)
    out["block_copies_test"] = block_index.copy_fractions(test)
    out["validity"] = M.validity(g, gen)
    out["rule_usage"] = (M.rule_usage(g, gen), M.rule_usage(g, train))
    for h in range(1, g.L + 1):
        bp = block_probs.get(h)
        freq = M.block_frequencies(gen, train, h, g.s, g.v, *(bp if bp else (None, None)))
        out[f"freq{h}"] = M.frequency_summary(freq)
    log_prob = g.log_prob(train)
    common = M.commonness_scores(train, g.v, g.s)
    out["proto"] = M.memorization_vs_prototypicality(log_prob, counts > 0, first, 1)
    out["auc_common"] = M.auc(common, counts > 0)
    return out


def evaluate_null(null, copy_index, num_train: int) -> dict:
    """One evaluation's null record (grammar and uniform nulls of both AUCs) for the copies of ``copy_index``."""
    import torch

    from rhm_memo import metrics as M

    first = M.update_first_step(torch.full((num_train,), M.NEVER), copy_index, 1)
    ever = M.ever_memorized(first, 1)
    observed = {"auc_ever": 0.6, "auc_commonness_ever": 0.6}
    return null.summary(M.copy_fraction(copy_index), int(ever.sum()), observed, 10**4)


def run_case(name: str, repeats: int) -> dict:
    """Run one case in this process."""
    from rhm_memo import metrics as M

    if name == "copies_scale":
        g, train, _, _ = _setup(10**6, 1)
        gen = g.sample(10**5, 7)
        return measure(lambda: M.TrainIndex(train, g.v).lookup(gen), repeats)
    if name == "hamming_scale":
        g, train, _, gen = _setup(10**5, 10**4)
        return measure(lambda: M.nearest_hamming(gen, train, g.v), repeats)
    g, train, test, gen = _setup(20000, 10**4)
    train_index = M.TrainIndex(train, g.v)
    block_index = M.BlockIndex(train, g.v, g.s)
    log_prob = g.log_prob(train)
    null_scores = {"auc_ever": log_prob, "auc_commonness_ever": M.commonness_scores(train, g.v, g.s)}
    null = M.NullModel(log_prob, null_scores, draws=200)
    block_probs = {}
    for h in range(1, g.L):
        bp = g.block_probabilities(h)
        block_probs[h] = (bp.values, bp.probs)
    ops = {
        "index": lambda: M.TrainIndex(train, g.v),
        "copies": lambda: train_index.lookup(gen),
        "block_index": lambda: M.BlockIndex(train, g.v, g.s),
        "block_copies": lambda: block_index.copy_fractions(gen),
        "validity": lambda: M.validity(g, gen),
        "hamming": lambda: M.nearest_hamming(gen, train, g.v),
        "all": lambda: evaluate_all(g, train, test, gen, train_index, block_index, block_probs),
        "all_plus_hamming": lambda: (
            evaluate_all(g, train, test, gen, train_index, block_index, block_probs),
            M.nearest_hamming(gen, train, g.v),
        ),
        "null": lambda: evaluate_null(null, train_index.lookup(gen), num_train=train.shape[0]),
        "null_build": lambda: evaluate_null(
            M.NullModel(log_prob, null_scores, draws=200), train_index.lookup(gen), num_train=train.shape[0]
        ),
        "all_with_indices": lambda: evaluate_all(
            g, train, test, gen, M.TrainIndex(train, g.v), M.BlockIndex(train, g.v, g.s), block_probs
        ),
    }
    ops[name]()  # warm-up
    return measure(ops[name], repeats)


CASES = [
    # (label, case, repeats, target, reference: the paper's own code on this machine, from the issue)
    ("build TrainIndex, P=2e4", "index", 5, "", ""),
    ("exact copies (look-up), B=1e4 vs P=2e4", "copies", 5, "<= 0.05 s", "paper code 1.1 s"),
    ("build BlockIndex, all heights", "block_index", 5, "", ""),
    ("block copies, all heights", "block_copies", 5, "<= 0.2 s", "paper code 32 s"),
    ("validity per height", "validity", 5, "<= 0.2 s", "paper code (BP) 109 s"),
    ("all of one evaluation (indices built)", "all", 5, "<= 1 s", ""),
    ("all of one evaluation + building indices", "all_with_indices", 3, "<= 1 s", ""),
    ("all of one evaluation + nearest Hamming", "all_plus_hamming", 3, "", ""),
    ("null model (2 nulls x 2 AUCs), R=200", "null", 5, "<= 5% of the row above", ""),
    ("null model incl. building its R=200 orders", "null_build", 3, "", ""),
    ("nearest Hamming, B=1e4 vs P=2e4", "hamming", 2, "", ""),
    ("exact copies B=1e5 vs P=1e6 (incl. index)", "copies_scale", 2, "<= 10 s, 1024 MB", ""),
    ("nearest Hamming, B=1e4 vs P=1e5", "hamming_scale", 1, "<= 30 s", ""),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the scale cases")
    parser.add_argument("--case", nargs=2, metavar=("NAME", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1])), default=str))
        return
    rows = []
    for label, case, repeats, target, ref in CASES:
        if args.quick and case.endswith("_scale"):
            continue
        rows.append((label, run_in_subprocess(__file__, case, str(repeats)), target, ref))
    print_table(rows)


if __name__ == "__main__":
    main()
