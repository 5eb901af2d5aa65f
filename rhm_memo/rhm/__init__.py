"""The Random Hierarchy Model: grammar, rule probabilities, exact log-probabilities and parses (no Lightning)."""

from rhm_memo.rhm.grammar import Grammar
from rhm_memo.rhm.results import BlockProbabilities, Derivations, Parse
from rhm_memo.rhm.rules import random_rules
from rhm_memo.rhm.zipf import level_rule_probs, root_prior_probs, zipf_probs

__all__ = [
    "BlockProbabilities",
    "Derivations",
    "Grammar",
    "Parse",
    "level_rule_probs",
    "random_rules",
    "root_prior_probs",
    "zipf_probs",
]
