"""Discovery strategies: each proposes candidate addresses for the pack, side by side; the
failure detector decides who is a member (see config/discovery.py for the configuration)."""
