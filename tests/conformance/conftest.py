"""The ``compat`` marker: which third-party client a conformance test proves what with.

``@pytest.mark.compat("<client>", "<capability>")`` on a test (several allowed, one per
capability), e.g. ``@pytest.mark.compat("openai (Python SDK)", "GA realtime over
WebSocket")``. Both arguments are string literals, given positionally: the README's
compatibility table is read from the source (:mod:`tests.conformance.compat_table`) and
lists a pair only while a test marks it. The marker is registered in pyproject.toml.

Here: a marker with other arguments fails the collection (pytest.UsageError); each marked
test carries ``("compat", "<client>: <capability>")`` in its ``user_properties`` (JUnit
XML); and the terminal summary lists the marked capabilities whose test was skipped (or its
whole module) or xfailed in this run, since such a test proves nothing.

Only the standard library and pytest are imported: the clients' own environments load this
file too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.compat_table import MarkerError, marker_args, markers_in

_SKIPPED: list[str] = []
_ROOT: list[Path] = []  # the run's rootdir (node ids are relative to it)


def pytest_configure(config: pytest.Config) -> None:
    _ROOT[:] = [config.rootpath]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for mark in item.iter_markers("compat"):
            try:
                client, capability = marker_args(mark.args, mark.kwargs)
            except MarkerError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
            item.user_properties.append(("compat", f"{client}: {capability}"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        how = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        _SKIPPED.extend(
            f"{value} ({report.nodeid}: {how})"
            for key, value in report.user_properties
            if key == "compat"
        )


def pytest_collectreport(report: pytest.CollectReport) -> None:
    path = Path(report.nodeid.split("::")[0])
    if report.skipped and path.name.startswith("test_") and path.suffix == ".py":
        try:
            found = list(markers_in(_ROOT[0] / path, root=_ROOT[0]))
        except (OSError, ValueError):
            return  # not a file of this suite (or unreadable): nothing to list
        _SKIPPED.extend(f"{m.client}: {m.capability} ({m.path}: module skipped)" for m in found)


def pytest_terminal_summary(terminalreporter) -> None:
    if _SKIPPED:
        terminalreporter.section("compat: not verified in this run (skipped or xfailed)")
        for line in dict.fromkeys(_SKIPPED):
            terminalreporter.write_line(line)
