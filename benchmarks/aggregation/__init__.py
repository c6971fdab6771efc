"""Benchmarks of the aggregation package (accuracy vs crowd-kit, speed and memory)."""
