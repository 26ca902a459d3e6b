"""Benchmarks against real redis-server processes: ``python bench/run.py --quick``.

Not tests: nothing here asserts a time. The script prints figures and ratios, and
docs/performance.md records them with the machine they were measured on.
"""
