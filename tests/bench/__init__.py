"""Benchmarks of the runner against the loopback fake server (``make bench``)."""
