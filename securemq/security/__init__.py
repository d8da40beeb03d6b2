"""Security mechanisms (sans-IO): NULL now; PLAIN and CURVE follow."""
