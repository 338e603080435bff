"""Hypothesis budgets shared by the fuzz tests: fixed for ``make test``, long on demand.

``make test`` (CI) runs a small, derandomised budget with no example database, so every
run tries the same examples. ``VOXGATE_FUZZ=long`` runs many more random examples and
keeps failures in ``.hypothesis/``::

    VOXGATE_FUZZ=long .venv/bin/pytest tests/protocol/test_fuzz_codec.py \\
        tests/realtime/test_fuzz_session.py tests/engines/test_fuzz_decoders.py -p no:cacheprovider
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

LONG = os.environ.get("VOXGATE_FUZZ") == "long"
"""Whether the long fuzzing budget was asked for."""


def fuzz_settings(examples: int, long_examples: int, **extra: Any) -> settings:
    """Hypothesis settings with ``examples`` (CI) or ``long_examples`` (long run).

    Args:
        examples: Examples per test in the fixed budget.
        long_examples: Examples per test when ``VOXGATE_FUZZ=long``.
        **extra: Further settings (e.g. ``stateful_step_count``).

    Returns:
        The settings: no deadline; derandomised without a database unless long.
    """
    return settings(
        max_examples=long_examples if LONG else examples,
        deadline=None,
        derandomize=not LONG,  # CI: the same examples on every run
        database=settings.default.database if LONG else None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **extra,
    )
