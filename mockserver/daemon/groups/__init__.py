"""Service groups: addresses and services that fail over between pack members (VyOS's
``cluster group``).

- ``config``: the ServiceGroups module (shared by every member) and its validation.
"""
