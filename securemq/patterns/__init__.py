"""Socket types: routing and queueing policy, run in the application thread."""
