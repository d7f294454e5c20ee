"""Helpers shared by the tests (and the benchmarks): no tests here.

Test modules import these, never each other; fixtures live in ``tests/conftest.py``.
"""
