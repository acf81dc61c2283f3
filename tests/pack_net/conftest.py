import os
import sys

# tests/netns.py is a helper module shared by test packages; make it importable also
# under --import-mode=importlib (the default "prepend" mode puts tests/ on sys.path).
_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from netns import bridged_factory, netns_factory  # noqa: E402,F401  (pytest fixtures)
