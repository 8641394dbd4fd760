"""The Flink configuration of the lab's local cluster: each option the lab sets and why, rendered
from the lab's settings, and written over the distribution's defaults into the lab's ``conf``
folder.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from .distribution import FlinkDistribution, lab_python
from .settings import LOOPBACK, LabSettings

# Java's optimising compiler (C2) takes a method after 10 times its default number of calls: a
# TaskManager's start-up code, run a few thousand times, stays with the quick compiler (C1), which
# cut its start-up CPU by a third on two cores; a job's per-record code crosses the threshold within
# its first second.
LATE_C2 = ("-XX:Tier4InvocationThreshold=50000 -XX:Tier4MinInvocationThreshold=6000 "
           "-XX:Tier4CompileThreshold=150000 -XX:Tier4BackEdgeThreshold=400000")


def cluster_config(settings: LabSettings, worker_python: str) -> dict:
    """The options the lab's cluster runs with (``settings.extra_config`` last), its TaskManagers
    starting Python workers with ``worker_python`` (the cluster decides: forked or fresh ones)."""
    s = settings
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    config = {
        "jobmanager.rpc.address": LOOPBACK, "jobmanager.rpc.port": s.rpc_port,
        "jobmanager.bind-host": LOOPBACK, "jobmanager.memory.process.size": s.jobmanager_memory,
        "taskmanager.bind-host": LOOPBACK, "taskmanager.host": LOOPBACK,
        "taskmanager.numberOfTaskSlots": s.slots, "taskmanager.memory.process.size": s.taskmanager_memory,
        # A job's parallel instances go to different TaskManagers (Flink fills one first by
        # default): in thread mode each TaskManager's Python has one GIL, so that is what scales.
        "taskmanager.load-balance.mode": "SLOTS",
        # Flink's REST API has no authentication: never listen beyond this machine.
        "rest.address": LOOPBACK, "rest.bind-address": LOOPBACK, "rest.port": s.rest_port,
        "execution.checkpointing.dir": s.checkpoint_dir.as_uri(),
        "execution.checkpointing.savepoint-dir": s.savepoint_dir.as_uri(),
        # RocksDB's working files in the lab dir (not /tmp), where chapter 01 measures them.
        "state.backend.rocksdb.localdir": str(s.rocksdb_dir),
        # Blob caches, shuffle files and unpacked Python files stay in the lab's home too.
        "io.tmp.dirs": str(s.tmp_dir),
        # The JobManager runs no records: Java's quick compiler alone and the serial collector
        # start it, and answer the 1 Hz metric queries of the live plots, with less CPU.
        "env.java.opts.jobmanager": f"-Djava.io.tmpdir={s.tmp_dir} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        "env.java.opts.taskmanager": f"-Djava.io.tmpdir={s.tmp_dir} {LATE_C2}",
        # REST metrics refresh every 10 s by default: far too slow for live plots.
        "metrics.fetcher.update-interval": 1000,
        # REST answers from a job's snapshot up to this old (default 3 s): every wait for a job
        # to run, finish or cancel would lose that much.
        "web.refresh-interval": 500,
        # The REST metric fetcher starts no new fetch until the last one has ended, and a query
        # sent to a TaskManager that was just killed waits out this timeout (default 10 min):
        # every job's metrics froze for minutes after chapter 03's and 07's kills.
        "web.timeout": "20 s",
        "web.checkpoints.history": 100,
        # Notice a dead TaskManager in seconds rather than Flink's 50 s, so recovery is watchable.
        "heartbeat.interval": 1000, "heartbeat.timeout": 8000,
        # A TaskManager that starts before the JobManager listens retries after this (default 10 s).
        "cluster.registration.error-delay": 500,
        "python.executable": worker_python, "python.client.executable": lab_python(),
        # Thread mode: the TaskManager's embedded interpreter must see this venv's packages,
        # and pemja must be loaded once, by the parent class loader (FLINK-37727).
        "python.pythonpath": site_packages,
        "classloader.parent-first-patterns.additional": "pemja.",
    }
    config.update(s.extra_config)
    return config


def write_conf_dir(conf_dir: Path, dist: FlinkDistribution, config: dict) -> None:
    """``conf_dir`` as Flink's scripts and JVMs read it: the distribution's files (its logging
    setup...), and a ``config.yaml`` of its defaults with ``config`` over them."""
    for src in (dist.home / "conf").iterdir():
        if src.name != "config.yaml":
            (conf_dir / src.name).write_bytes(src.read_bytes())
    defaults = _flatten(yaml.safe_load(dist.default_config.read_text()))
    defaults.update(config)
    (conf_dir / "config.yaml").write_text(yaml.safe_dump(defaults, sort_keys=True, width=10_000))


def _flatten(tree: dict, prefix: str = "") -> dict:
    """Flink's nested YAML as its flat dotted keys, so the lab's options replace the defaults' own."""
    flat = {}
    for key, value in (tree or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
