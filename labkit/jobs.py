"""Submitting PyFlink jobs to the lab's cluster: job configuration presets, a remote environment,
pipelines, SQL, Table queries and scripts. Each submission returns a :class:`JobHandle`
(:mod:`labkit.job_handle`), which reads and steers the job from there.

Jobs are built in this Python process (a notebook kernel, a test, a benchmark) against the
*remote* cluster: PyFlink's ``get_execution_environment`` would start a private MiniCluster
instead, so we construct the Java ``StreamExecutionEnvironment`` from a configuration with
``execution.target: remote`` and wrap it. Functions and classes defined in a notebook reach
the Python workers through cloudpickle; those in importable modules (``labkit.pipelines``)
are imported there.
"""
from __future__ import annotations

import inspect
import os
import re
import shlex
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .current_lab import current
from .distribution import find_java, flink_distribution, lab_python
from .errors import JobFailed, LabError
from .flink_options import check_options
from .job_handle import JobHandle, JobRecipe
from .kafka import load_connector_in_client
from .outputs import output_dir

ACTIVE_JOB_STATES = frozenset({"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING"})

# What PyFlink does when nobody tunes it (the bench's "PyFlink defaults" rows measure it).
PYFLINK_DEFAULTS: dict = {}

# The lab's defaults, and why each one (the bench compares them with PyFlink's; README "Tuned defaults"):
LAB_DEFAULTS: dict = {
    # Python runs inside the TaskManager's JVM (pemja) instead of in a worker process fed in
    # bundles: no bundle for a checkpoint barrier, a watermark or a record to wait for, and state
    # calls without a round trip between processes. One GIL per TaskManager, so the lab has two
    # TaskManagers (settings.py) and spreads a job's parallel instances over them (cluster_config.py).
    "python.execution-mode": "thread",
    "parallelism.default": 2,
}

# PyFlink's own execution mode, tuned (chapters 05 and 06 measure each option; README "Tuned defaults").
PROCESS_MODE: dict = {
    "python.execution-mode": "process",
    "parallelism.default": 2,
    # At each bundle end PyFlink commits every modified key with a blocking round trip to the JVM.
    # Big bundles amortise that; the time bound keeps latency and checkpoint barriers bounded.
    "python.fn-execution.bundle.size": 20000,
    "python.fn-execution.bundle.time": 500,
    # Keep all live keys of a worker in the Python-side state cache.
    "python.state.cache-size": 10000,
    "python.map-state.read-cache-size": 10000,
    "python.map-state.write-cache-size": 10000,
}


def job_config(preset: str = "lab", **overrides) -> dict:
    """A job configuration: ``preset`` "lab" (the lab's defaults: thread mode), "process" (PyFlink's
    process mode, tuned) or "pyflink" (untouched), plus overrides.

    Override keys use underscores or Flink's dotted keys: ``job_config(parallelism=2)``,
    ``job_config(**{"state.backend.type": "rocksdb"})``.
    """
    presets = {"lab": LAB_DEFAULTS, "process": PROCESS_MODE, "pyflink": PYFLINK_DEFAULTS}
    if preset not in presets:
        raise LabError(f"unknown job preset {preset!r}", hint=f"use one of {sorted(presets)}")
    config = dict(presets[preset])
    aliases = {"parallelism": "parallelism.default", "state_backend": "state.backend.type",
               "checkpoint_interval": "execution.checkpointing.interval",
               "execution_mode": "python.execution-mode"}
    for key, value in overrides.items():
        config[aliases.get(key, key)] = value
    return config


def remote_environment(config: dict | None = None, cluster=None):
    """A PyFlink StreamExecutionEnvironment that submits to the lab's cluster."""
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.java_gateway import get_gateway

    cluster = cluster or current()
    check_options(config or {}, _flink_value)
    host, port = _host_port(cluster.url)
    gateway = get_gateway()
    j_conf = gateway.jvm.org.apache.flink.configuration.Configuration()
    settings = {"execution.target": "remote", "rest.address": host, "rest.port": port,
                "python.client.executable": lab_python()}
    if cluster.settings.attached:
        # A cluster someone else runs has its own Python for the workers (its config says which)
        # and, on the official image, no flink-python in lib/: the job brings the client's jar.
        settings["pipeline.jars"] = [flink_distribution().python_jar.as_uri()]
    else:
        settings["python.executable"] = cluster.worker_python
    for key, value in (config or {}).items():
        if key == "pipeline.jars" and "pipeline.jars" in settings:
            extra = value.split(";") if isinstance(value, str) else list(value)
            settings[key] = [*settings[key], *extra]
        else:
            settings[key] = value
    for key, value in settings.items():
        j_conf.setString(key, _flink_value(value))
    load_connector_in_client()
    j_env = gateway.jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment(j_conf)
    return StreamExecutionEnvironment(j_env)


def _host_port(url: str) -> tuple[str, int]:
    match = re.match(r"https?://([^:/]+):?(\d+)?", url)
    return match.group(1), int(match.group(2) or 80)


def _flink_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    return str(value)


def cancel_jobs_named(name: str, cluster, timeout: float = 30) -> list[str]:
    """Cancel every active job called ``name``: re-running a cell must not leave a duplicate."""
    doomed = [JobHandle(j["jid"], name, cluster) for j in cluster.rest.jobs()
              if j["name"] == name and j["state"] in ACTIVE_JOB_STATES]
    for job in doomed:
        job.cancel(timeout=timeout)
    return [job.job_id for job in doomed]


def submit(build: Callable, *, name: str, config: dict | None = None, restore_from: str | None = None,
           allow_non_restored_state: bool = False, replace: bool = True, cluster=None, **params) -> JobHandle:
    """Build the pipeline ``build(env, **params)`` and run it on the cluster as job ``name``.

    A ``build`` that takes an ``output`` folder gets a fresh one named after the job unless
    ``output`` is among ``params``; the handle carries it, so results are read with
    ``reader(job.output)``. ``config`` is a job configuration (see :func:`job_config`; default:
    the lab preset). ``restore_from`` resumes from a savepoint or retained checkpoint path.
    """
    cluster = cluster or current()
    config = dict(job_config() if config is None else config)
    if restore_from:
        config["execution.state-recovery.path"] = str(restore_from)
        config["execution.state-recovery.ignore-unclaimed-state"] = allow_non_restored_state
    if replace:
        cancel_jobs_named(name, cluster)
    cluster.replace_lost_taskmanagers()
    if config.get("python.execution-mode") == "thread":
        _warn_of_edited_modules(cluster)
    if "output" not in params and "output" in inspect.signature(build).parameters:
        params["output"] = output_dir(name, cluster=cluster)  # emptied after the job it replaces stopped
    env = remote_environment(config, cluster)
    build(env, **params)
    job_client = env.execute_async(name)
    job_id = str(job_client.get_job_id())
    return JobHandle(job_id, name, cluster, output=params.get("output"),
                     resubmit_with=JobRecipe(build, name, config, params, submit))


def _warn_of_edited_modules(cluster) -> None:
    edited = cluster.modules_edited_since_start()
    if edited:
        warnings.warn(f"{', '.join(edited[-3:])}{' and others' if len(edited) > 3 else ''} changed after this "
                      "lab's TaskManagers started; in thread mode they still run the version they first "
                      "imported. Stop and start the lab (`labkit down`, then `labkit up`) to run the new code.",
                      stacklevel=3)


def _table_environment(name: str, config: dict | None, cluster, **overrides):
    """(table environment, stream environment) on ``cluster`` for job ``name``: ``config`` (the lab's
    job options by default) plus ``overrides``, after replacing a TaskManager lost since the last job."""
    from pyflink.table import StreamTableEnvironment

    config = {**(job_config() if config is None else config), **overrides, "pipeline.name": name}
    cluster.replace_lost_taskmanagers()
    env = remote_environment(config, cluster)
    return StreamTableEnvironment.create(env), env


def submit_sql(statements: list[str], *, name: str, config: dict | None = None, replace: bool = True,
               prepare: Callable | None = None, cluster=None) -> JobHandle:
    """Run JVM-only Flink SQL as job ``name``: DDL statements, then one INSERT.

    ``prepare(t_env, env)`` may register tables first (e.g. a view over a DataStream).
    """
    cluster = cluster or current()
    if replace:
        cancel_jobs_named(name, cluster)
    t_env, env = _table_environment(name, config, cluster)
    if prepare:
        prepare(t_env, env)
    *ddl, insert = statements
    for statement in ddl:
        t_env.execute_sql(statement)
    result = t_env.execute_sql(insert)
    job_id = str(result.get_job_client().get_job_id())
    return JobHandle(job_id, name, cluster)


@dataclass
class TableRun:
    """What :func:`collect_table` brought back: the result's rows and Flink's optimised plan."""
    rows: list[tuple]
    plan: str


def collect_table(build: Callable, *, name: str, config: dict | None = None, cluster=None) -> TableRun:
    """Run the Table that ``build(t_env, env)`` returns, over bounded input, to its end as job
    ``name``, and bring its rows back to this process. It runs in batch mode, so an aggregation
    gives one final row per group instead of a stream of updates. ``plan`` is what Flink's
    optimiser made of it (``Table.explain()``): a Python function in it shows as ``Python...``."""
    t_env, env = _table_environment(name, config, cluster or current(), **{"execution.runtime-mode": "BATCH"})
    table = build(t_env, env)
    plan = table.explain()
    with table.execute().collect() as results:
        return TableRun([tuple(row) for row in results], plan)


def flink_run_command(script: str | Path, *args: str, config: dict | None = None, cluster=None,
                      detached: bool = False) -> str:
    """The ``flink run -py`` command line that submits ``script`` to the lab's cluster: what a
    learner types in a terminal (the ``flink`` of the apache-flink wheel, the lab's Python for the
    client and the workers, the cluster's REST address), after the Java it needs."""
    argv = _flink_run_argv(script, *args, config=config, cluster=cluster, detached=detached)
    return f"JAVA_HOME={shlex.quote(str(find_java().home))} {shlex.join(argv)}"


def _flink_run_argv(script, *args: str, config: dict | None, cluster, detached: bool) -> list[str]:
    cluster = cluster or current()
    host, port = _host_port(cluster.url)
    dynamic = {"rest.address": host, "rest.port": port, **(config or {})}
    return ["bash", str(flink_distribution().bin / "flink"), "run", *(["-d"] if detached else []),
            "-pyclientexec", lab_python(), "-pyexec", lab_python(),
            *[f"-D{k}={_flink_value(v)}" for k, v in dynamic.items()], "-py", str(script), *args]


def run_script(script: str | Path, *args: str, config: dict | None = None, cluster=None,
               timeout: float = 120) -> JobHandle:
    """Submit a standalone PyFlink script with ``flink run -d -py`` (detached): the command of
    :func:`flink_run_command`.

    The script must build its job under ``if __name__ == "__main__":`` (the Python workers
    import it again). Slower than :func:`submit` (a client JVM starts), but it is how jobs are
    deployed outside a notebook.
    """
    cluster = cluster or current()
    cmd = _flink_run_argv(script, *args, config=config, cluster=cluster, detached=True)
    env = {**os.environ, "JAVA_HOME": str(find_java().home)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    match = re.search(r"JobID ([0-9a-f]{32})", done.stdout + done.stderr)
    if done.returncode != 0 or not match:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise JobFailed(f"`flink run -py {script}` failed (exit {done.returncode}):\n{tail}")
    job_id = match.group(1)
    return JobHandle(job_id, cluster.rest.job(job_id)["name"], cluster)
