"""The ``pylxd-cluster`` command line: tables, JSON and YAML views of an LXD cluster."""
