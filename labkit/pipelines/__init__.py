"""Reusable pipelines: notebooks, tests and benchmarks build their jobs from these modules.

They live in an importable package (not in notebook cells) so the Python workers import the
same code, and every chapter, test and benchmark measures one implementation.
"""
