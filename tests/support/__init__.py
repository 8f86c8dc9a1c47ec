"""Shared helpers for the test-suite, the evaluation and the benchmarks."""
