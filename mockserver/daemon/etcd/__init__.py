"""The daemon on etcd (``backend: etcd`` in the Pack module): etcd as the engine of record
for membership (leases), leadership (the election recipe), the shared document and
cluster-wide writes (compare-and-swap on revisions, watches; join tokens are such writes)
and service-group ownership. See docs/backends.rst.

Needs aetcd (the ``etcd`` extra): ``pip install 'pylxd-cluster[etcd]'``.
"""
