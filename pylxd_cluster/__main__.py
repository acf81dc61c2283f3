"""``python -m pylxd_cluster``: the ``pylxd-cluster`` command."""
import sys

from pylxd_cluster.cli.main import main

sys.exit(main())
