"""The README's compatibility table is the one the suite's compat markers generate.

No server, no client: the test files are read as source (:mod:`compat_table`). When the
first test fails, run ``make compat-table`` and commit the README.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conformance import compat_table
from tests.conformance.compat_table import END, README, START, Compat, MarkerError


def test_the_readme_table_is_the_generated_one():
    readme = README.read_text()
    assert readme == compat_table.with_table(readme, compat_table.table(compat_table.collect())), (
        "README.md's compatibility table is out of date: run `make compat-table`"
    )


def test_every_conformance_file_with_a_client_marks_what_it_proves():
    marked = {m.path.rsplit("/", 1)[-1] for m in compat_table.collect()}
    assert {"test_node_sdk.py", "test_openai_python.py"} <= marked
    for path in compat_table.suite_files():
        if path.name != "test_compat_table.py":
            assert path.name in marked, f"{path.name} has tests but no compat marker"


def test_check_mode_exits_zero_when_current():
    done = subprocess.run(
        [sys.executable, "-m", "tests.conformance.compat_table", "--check"],
        cwd=compat_table.REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_mode_fails_on_a_stale_readme(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n\n{START}\n| old |\n{END}\n\nafter\n")
    monkeypatch.setattr(compat_table, "README", stale)
    assert compat_table.main(["--check"]) == 1
    assert "make compat-table" in capsys.readouterr().out
    assert stale.read_text().count("| old |") == 1  # --check writes nothing
    assert compat_table.main([]) == 0
    written = stale.read_text()
    assert written.startswith("# x\n\n") and written.endswith(f"{END}\n\nafter\n")
    assert "| old |" not in written and "✅ tested in `tests/conformance/" in written
    assert compat_table.main(["--check"]) == 0


def test_the_table_groups_pairs_and_lists_every_file():
    markers = [
        Compat("zeta", "b", "tests/conformance/test_z.py", 1),
        Compat("Alpha", "x|y", "tests/conformance/test_a.py", 3),
        Compat("zeta", "a", "tests/conformance/test_z.py", 2),
        Compat("zeta", "b", "tests/conformance/test_y.py", 9),
        Compat("zeta", "b", "tests/conformance/test_z.py", 5),
    ]
    assert compat_table.table(markers).splitlines() == [
        "| Client | Capability | Status |",
        "|---|---|---|",
        r"| Alpha | x\|y | ✅ tested in `tests/conformance/test_a.py` |",
        "| zeta | b | ✅ tested in `tests/conformance/test_z.py`, `tests/conformance/test_y.py` |",
        "| zeta | a | ✅ tested in `tests/conformance/test_z.py` |",
    ]


@pytest.mark.parametrize(
    "source",
    [
        "CLIENT = 'c'\n@pytest.mark.compat(CLIENT, 'x')\ndef test_a(): pass\n",
        "@pytest.mark.compat('c')\ndef test_a(): pass\n",
        "@pytest.mark.compat('c', '')\ndef test_a(): pass\n",
        "@pytest.mark.compat(client='c', capability='x')\ndef test_a(): pass\n",
    ],
)
def test_a_marker_the_table_cannot_read_is_an_error(tmp_path, source):
    probe = tmp_path / "test_probe.py"
    probe.write_text(source)
    with pytest.raises(MarkerError, match=r"^test_probe\.py:\d+: compat"):
        list(compat_table.markers_in(probe, root=tmp_path))


def test_markers_are_found_however_they_are_written(tmp_path):
    source = (
        "import pytest\nfrom pytest import mark\n"
        "pytestmark = [pytest.mark.compat('m', 'module')]\n"
        "@mark.compat('m', 'bare')\nclass TestX:\n"
        "    @pytest.mark.parametrize('v', [pytest.param(1, marks=pytest.mark.compat('m', 'param'))])\n"
        "    async def test_x(self, v): pass\n"
    )
    (tmp_path / "test_probe.py").write_text(source)
    found = compat_table.markers_in(tmp_path / "test_probe.py", root=tmp_path)
    assert [(m.capability, m.line, m.path) for m in found] == [
        ("module", 3, "test_probe.py"),
        ("bare", 4, "test_probe.py"),
        ("param", 6, "test_probe.py"),
    ]


def test_readme_markers_must_appear_once():
    with pytest.raises(MarkerError):
        compat_table.with_table("no markers here", "| t |\n")
    with pytest.raises(MarkerError):
        compat_table.with_table(f"{END}\n{START}\n", "| t |\n")


PROBE = """
import pytest

if "{skip_module}":
    pytest.skip("no client here", allow_module_level=True)


@pytest.mark.compat("probe client", "passes")
def test_passes():
    assert True


@pytest.mark.compat("probe client", "skips")
def test_skips():
    pytest.skip("no client")


@pytest.mark.compat("probe client", "records")
def test_records(record_property, request):
    assert ("compat", "probe client: records") in request.node.user_properties
"""


def run_probe(tmp_path, source: str) -> subprocess.CompletedProcess[str]:
    """pytest on one file in ``tmp_path``, with this folder's conftest as a plugin."""
    (tmp_path / "test_probe.py").write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conformance.conftest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
            "-o",
            "markers=compat: probe",
            "--strict-markers",
            str(tmp_path / "test_probe.py"),
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(compat_table.REPO),
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_summary_lists_skipped_capabilities(tmp_path):
    done = run_probe(tmp_path, PROBE.format(skip_module=""))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.split("compat: not verified in this run")[1]
    assert "probe client: skips (test_probe.py::test_skips: skipped)" in summary
    assert "passes" not in summary and "records" not in summary


def test_a_skipped_module_lists_all_its_capabilities(tmp_path):
    done = run_probe(tmp_path, PROBE.format(skip_module="yes"))
    summary = done.stdout.split("compat: not verified in this run")[1]
    for capability in ("passes", "skips", "records"):
        assert f"probe client: {capability} (test_probe.py: module skipped)" in summary


def test_a_bad_marker_stops_the_run(tmp_path):
    bad = "import pytest\n\n@pytest.mark.compat('only a client')\ndef test_x():\n    pass\n"
    done = run_probe(tmp_path, bad)
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    assert "test_probe.py::test_x: compat takes two non-empty strings" in done.stderr
