import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netns import bridged_factory  # noqa: E402,F401  (pytest fixture)
