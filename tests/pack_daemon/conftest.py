import os
import sys

# tests/packproc.py and tests/netns.py are helper modules shared by test packages; make them
# importable also under --import-mode=importlib (the default "prepend" mode puts tests/ on
# sys.path already).
_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from netns import bridged_factory  # noqa: E402,F401  (pytest fixture)
