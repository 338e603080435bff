"""Benchmarks: each module is a script run from the repository root as ``python -m bench.NAME``.

Shared by the scripts: :mod:`bench.report` (result rows, tables, the machine lines,
appending ``bench/RESULTS.md``) and :mod:`bench.common_realtime` (one paced realtime session
and its latency rows). Helpers shared with the tests live in :mod:`testkit`; nothing here
imports from ``tests/``.
"""
