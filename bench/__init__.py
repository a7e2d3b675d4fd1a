"""Benchmarks with their own command (see bench/README.md); never run by pytest."""
