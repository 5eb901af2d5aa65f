"""Speed and memory of the grammar and the data module, printed as a table.

    python bench/data.py            # all cases
    python bench/data.py --quick    # sizes / 10, a smoke run

Each case runs in a fresh subprocess (see bench/common.py): a small warm-up call first, then the timed
calls. Targets are those of the foundation issue, on 2 CPU cores, with the paper's grammar (v=n=6, m=4,
s=2, L=4, Zipf a=1 at level 1).
"""

from __future__ import annotations

import argparse
import json

from common import measure, print_table, run_in_subprocess

PAPER = dict(v=6, n=6, m=4, s=2, L=4)


def run_case(name: str, size: int, repeats: int) -> dict:
    """Run one case in this process."""
    import torch

    from rhm_memo.data import RHMDataModule
    from rhm_memo.rhm import Grammar

    torch.set_num_threads(2)
    grammar = Grammar(**PAPER, seed=1951, zipf_exponent=1.0, zipf_levels=[1])
    strings = grammar.sample(size, 0) if name in ("log_prob", "parse") else None

    def datamodule():
        dm = RHMDataModule(
            **PAPER, seed_rules=1951, zipf_exponent=1.0, zipf_levels=[1], train_size=size, test_size=1024,
            cache_dir=None,
        )  # fmt: skip
        dm.setup("fit")

    ops = {
        "datamodule": datamodule,
        "sample_unique": lambda: grammar.sample_unique(size, 1),
        "sample": lambda: grammar.sample(size, 1),
        "log_prob": lambda: grammar.log_prob(strings),
        "parse": lambda: grammar.parse(strings),
    }
    Grammar(**PAPER, seed=1951).sample_unique(1000, 0)  # warm-up on a small input of the same kind
    grammar.log_prob(grammar.sample(1000, 0))
    return measure(ops[name], repeats)


CASES = [
    # (label, case, size, repeats, target, reference)
    ("data module: P=20000 unique + 1024 test", "datamodule", 20000, 5, "<= 0.1 s", "paper code 0.10 s"),
    ("sample_unique, P=10^6", "sample_unique", 10**6, 2, "<= 5 s, 1024 MB", ""),
    ("sample (i.i.d.), 10^6", "sample", 10**6, 2, "", ""),
    ("log_prob, 10^6 strings", "log_prob", 10**6, 3, "<= 1 s", ""),
    ("parse, 10^6 strings", "parse", 10**6, 3, "", ""),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="divide sizes by 10")
    parser.add_argument("--case", nargs=3, metavar=("NAME", "SIZE", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), int(args.case[2]))))
        return
    rows = []
    for label, case, size, repeats, target, ref in CASES:
        size = size // 10 if args.quick else size
        rows.append((label, run_in_subprocess(__file__, case, str(size), str(repeats)), target, ref))
    print_table(rows)


if __name__ == "__main__":
    main()
