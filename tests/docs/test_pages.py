"""The docs' runnable examples: every ``>>>`` example of these pages runs and prints what the page says."""

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["concepts/null.md", "concepts/privacy.md"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_as_written(page):
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result
