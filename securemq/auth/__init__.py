"""Authentication (ZAP handlers, policies, certificates) arrives with the auth issue."""
