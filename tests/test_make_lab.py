"""`make lab` and the targets around it, without starting a cluster or a server: what the targets
run, what JupyterLab is told, and that a taken JupyterLab port stops `make lab` before any cluster
starts."""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
JUPYTER_CONFIG = ROOT / "scripts" / "jupyter_lab_config.py"


def _dry_run(*targets: str) -> list[str]:
    """The commands `make` would run for ``targets``."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # under `make test`
    out = subprocess.run(["make", "--no-print-directory", "-n", *targets], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()


def _recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_down_and_clean_stop_the_current_lab_and_down_all_stops_every_lab():
    assert _dry_run("down") == [".venv/bin/labkit down"]
    assert _dry_run("clean")[0] == ".venv/bin/labkit down"
    assert _dry_run("down-all") == [".venv/bin/labkit down --all"]


def test_the_learners_targets_echo_no_recipe_line():
    for target in ("lab", "lab-headless", "down", "down-all", "status", "clean"):
        recipe = _recipe(target)
        assert recipe and all(line.startswith("@") for line in recipe), (target, recipe)


def _config() -> tuple[Config, dict]:
    config, namespace = Config(), {}
    namespace["get_config"] = lambda: config
    exec(compile(JUPYTER_CONFIG.read_text(), str(JUPYTER_CONFIG), "exec"), namespace)
    return config, namespace


def test_jupyterlab_is_quiet_on_loopback_and_its_kernels_are_encrypted():
    config, _ = _config()
    assert config.ServerApp.ip == "127.0.0.1" and config.ServerApp.port_retries == 0
    assert config.ServerApp.log_level == config.LabApp.log_level == "WARN"
    assert config.LanguageServerManager.autodetect is False
    assert config.MappingKernelManager.transport_encryption == "auto"


def test_the_not_trusted_line_is_dropped_and_other_warnings_are_kept():
    config, namespace = _config()
    logging_config = config.ServerApp.logging_config
    factory = logging_config["filters"]["not_trusted"]["()"]
    assert logging_config["handlers"]["console"]["filters"] == ["not_trusted"]

    def record(message, *args):
        return logging.LogRecord("ServerApp", logging.WARNING, __file__, 1, message, args, None)

    keeps = factory().filter
    assert not keeps(record("Notebook %s is not trusted", "00_lab_tour.ipynb"))
    assert keeps(record("Kernel %s died, removing from map", "k1"))
    assert keeps(record("Notebook %s could not be saved", "00_lab_tour.ipynb"))


def test_jupyter_reads_the_config_file():
    shown = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "lab", "--show-config",
                            f"--config={JUPYTER_CONFIG}"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert str(JUPYTER_CONFIG) in shown.stdout and ".transport_encryption = 'auto'" in shown.stdout
    assert "[I " not in shown.stderr, "JupyterLab's info lines are shown"


def test_a_taken_jupyterlab_port_stops_make_lab_before_any_cluster_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        offset = port - 8888
        # Attached to nothing: were the check to miss, `labkit up` would fail instead of starting a cluster.
        env = {**os.environ, "LABKIT_HOME": str(tmp_path), "LABKIT_LAB": "portcheck",
               "LABKIT_PORT_OFFSET": str(offset), "LABKIT_REST_URL": "http://127.0.0.1:9"}
        result = subprocess.run(["bash", str(ROOT / "scripts" / "lab.sh")], env=env, capture_output=True,
                                text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {port} (JupyterLab for this lab: 8888 + LABKIT_PORT_OFFSET) is taken" in result.stderr
    assert f"LABKIT_LAB=portcheck LABKIT_PORT_OFFSET={offset + 100} make lab" in result.stderr
    assert "is up" not in result.stdout and not any(tmp_path.iterdir())
