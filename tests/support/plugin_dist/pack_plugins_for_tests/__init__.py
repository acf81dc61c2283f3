"""Plug-ins for the pylxd-cluster daemon, installed by its tests."""
