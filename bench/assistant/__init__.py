"""Benchmark: the assistant's streaming through the panel versus the endpoint directly."""
