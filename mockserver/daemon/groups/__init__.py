"""Service groups: addresses and services that fail over between pack members (VyOS's
``cluster group``).

- ``config``: the ServiceGroups module (shared by every member) and its validation.
- ``placement``: where each group should run (the leader's decision, a pure function).
- ``ownership``: who may hold a group, and when: leases renewed with a majority, and
  takeovers that wait out the older claims (sans-IO; never two holders).
- ``runtime``: the daemon's driver: the leader places groups and publishes the assignments
  in the pack document; every member renews, takes over, and carries out GroupActions.
"""
