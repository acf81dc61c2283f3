"""Test helpers shared across the suites (packproc, netns, rawhttp) are plain modules in
this directory: make them importable from every suite."""
import os
import sys

_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
