"""The I/O threads: reactor, engines, sessions and listeners."""
