"""Pure metric functions: memorization, substrings, grammar validity, prototypicality, null model, membership.

No Lightning, no logging: callbacks and the report call these, and so can a notebook.
"""

from rhm_memo.metrics.grammar import fully_valid_fraction, rule_usage, validity
from rhm_memo.metrics.index import RowIndex, TrainIndex
from rhm_memo.metrics.memorization import (
    NEVER,
    CopyTally,
    copy_counts,
    copy_fraction,
    distinct_memorized,
    ever_memorized,
    fraction_distinct,
    fraction_within,
    hamming_histogram,
    memorization_summary,
    nearest_hamming,
    novelty,
    update_first_step,
)
from rhm_memo.metrics.null import (
    NullAUC,
    NullModel,
    draw_without_replacement,
    expected_ever_memorized,
    training_mass,
)
from rhm_memo.metrics.privacy import FPRS, attack_auc, membership_inference, tpr_at_fpr
from rhm_memo.metrics.prototypicality import (
    auc,
    average_ranks,
    commonness_scores,
    fraction_by_quantile,
    memorization_vs_prototypicality,
    spearman,
    spearman_first_step,
)
from rhm_memo.metrics.substrings import (
    BlockFrequencies,
    BlockIndex,
    block_counts,
    block_frequencies,
    block_probabilities_outside,
    entropy,
    frequency_summary,
    kl_on_support,
    slop_index,
    slop_index_true,
    top_blocks,
)
from rhm_memo.onset import TAUS, onset_step, onsets

__all__ = [
    "FPRS",
    "NEVER",
    "TAUS",
    "BlockFrequencies",
    "BlockIndex",
    "CopyTally",
    "NullAUC",
    "NullModel",
    "RowIndex",
    "TrainIndex",
    "attack_auc",
    "auc",
    "average_ranks",
    "block_counts",
    "block_frequencies",
    "block_probabilities_outside",
    "commonness_scores",
    "copy_counts",
    "copy_fraction",
    "distinct_memorized",
    "draw_without_replacement",
    "entropy",
    "ever_memorized",
    "expected_ever_memorized",
    "fraction_by_quantile",
    "fraction_distinct",
    "fraction_within",
    "frequency_summary",
    "fully_valid_fraction",
    "hamming_histogram",
    "kl_on_support",
    "membership_inference",
    "memorization_summary",
    "memorization_vs_prototypicality",
    "nearest_hamming",
    "novelty",
    "onset_step",
    "onsets",
    "rule_usage",
    "slop_index",
    "slop_index_true",
    "spearman",
    "spearman_first_step",
    "top_blocks",
    "tpr_at_fpr",
    "training_mass",
    "update_first_step",
    "validity",
]
