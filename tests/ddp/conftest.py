"""The DDP tests import the monitor helpers of tests/callbacks by name, as the scripts of this folder do.

Test folders have no ``__init__.py``: pytest puts each test file's own folder on ``sys.path`` (import mode
"prepend"), so ``ddp_launch`` and the scripts here import as they are, and tests/callbacks is added here.
"""

import sys
from pathlib import Path

CALLBACKS_TESTS = str(Path(__file__).parents[1] / "callbacks")
if CALLBACKS_TESTS not in sys.path:
    sys.path.insert(0, CALLBACKS_TESTS)
