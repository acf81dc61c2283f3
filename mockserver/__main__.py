import sys

from mockserver.mock.cli import main

sys.exit(main())
