"""Transports: endpoint parsing and address resolution for tcp, ipc and inproc."""
