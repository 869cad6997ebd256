"""Micro-benchmarks of the notify package."""
