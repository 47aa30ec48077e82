"""Forms of the affiliate area."""
