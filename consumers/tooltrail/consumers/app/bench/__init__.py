"""Benchmarks: commands that print figures and ratios against a baseline run alongside."""
