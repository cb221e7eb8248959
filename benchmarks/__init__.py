"""Benchmarks: run with `make bench`. Numbers, not pass/fail."""
