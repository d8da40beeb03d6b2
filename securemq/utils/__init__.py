"""Utilities with pyzmq's import paths (``securemq.utils.z85``, ``.monitor``)."""
