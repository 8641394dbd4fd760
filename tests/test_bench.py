"""The benchmark runner, at its tiny size: every benchmark and target lands in one table and
one JSON file, and the pipelines it times computed exact results."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import run as bench  # noqa: E402


@pytest.mark.cluster  # bench/run.py starts a lab of its own
def test_tiny_bench_produces_a_complete_table(tmp_path):
    result_file = tmp_path / "bench.json"
    env = dict(os.environ, LABKIT_HOME=str(tmp_path / "home"), LABKIT_LAB="benchtest", LABKIT_PORT_OFFSET="700",
               LABKIT_HEADLESS="1")
    env.pop("LABKIT_REST_URL", None)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--size", "tiny",
                           "--json", str(result_file)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(result_file.read_text())
    rows = {row["name"]: row for row in report["rows"]}
    assert set(bench.TARGETS) <= set(rows), f"missing: {set(bench.TARGETS) - set(rows)}"
    assert all(math.isfinite(row["value"]) for row in report["rows"]), report["rows"]
    for name in bench.TARGETS:
        assert rows[name]["verdict"] == "met" or rows[name]["verdict"].startswith("missed")
    timed = [row for row in report["rows"] if "exact" in row]
    assert len(timed) == 6 and all(row["exact"] for row in timed)  # two pipelines under three presets
    assert rows["peak lab RSS (GB)"]["parts_gb"]["taskmanager"] > 0
    for name in bench.TARGETS:  # the printed table has every target's line
        assert name in done.stdout
