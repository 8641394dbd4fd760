"""Submitting PyFlink jobs to the lab's cluster and steering them through a JobHandle.

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
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from . import jars
from .current_lab import current
from .distribution import find_java, flink_distribution, lab_python
from .errors import BadRequest, JobFailed, JobFailing, JobTimeout, LabError, SavepointFailed
from .flink_options import check_options
from .outputs import output_dir
from .progress import Polling, Waiting
from .rest import NO_WATERMARK, TERMINAL_JOB_STATES, RestClient, python_line, root_cause_line

ACTIVE_JOB_STATES = frozenset({"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING"})
# A failure this long after the lab killed a TaskManager is the kill's doing, not the job's own:
# the JobManager notices a lost TaskManager at the latest when its heartbeats time out.
INJECTED_FAULT_WINDOW_S = 60

# Past execution attempts of each task the JobManager keeps (jobmanager.execution.attempts-history-size).
ATTEMPTS_KEPT = 16

# What PyFlink does when nobody tunes it (the bench's "PyFlink defaults" rows measure it).
PYFLINK_DEFAULTS: dict = {}

# The lab's defaults, and why each one (the bench compares them with PyFlink's; README "Tuned defaults"):
LAB_DEFAULTS: dict = {
    # Python runs inside the TaskManager's JVM (pemja) instead of in a worker process fed in
    # bundles: no bundle for a checkpoint barrier, a watermark or a record to wait for, and state
    # calls without a round trip between processes. One GIL per TaskManager, so the lab has two
    # TaskManagers (settings.py) and spreads a job's parallel instances over them (cluster.py).
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
    _load_connector_in_client()
    j_env = gateway.jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment(j_conf)
    return StreamExecutionEnvironment(j_env)


# Root causes whose next step the learner cannot read off the exception itself.
KNOWN_CAUSES = {
    "UnknownTopicOrPartitionException": "a Kafka topic the job reads or writes does not exist: create it first "
                                        "(`broker.create_topic(name, partitions)`); the lab's broker creates no "
                                        "topic on first use, so a typo in a name fails here",
    "Timed out waiting for a node assignment": "the Kafka broker does not answer: `labkit up --kafka` starts "
                                               "the lab's, `labkit status` says whether it runs",
}


def _hint_for(cause: str) -> str | None:
    """The next step for a known root cause; None keeps the error's own hint."""
    return next((hint for marker, hint in KNOWN_CAUSES.items() if marker in cause), None)


def _load_connector_in_client() -> None:
    """Kafka's source and sink are built in this process's JVM (PyFlink's gateway), which starts
    with the wheel's jars only: the connector the lab's cluster has in lib/ is loaded here too, so
    a job can use it without shipping it (``pipeline.jars``) a second time."""
    if not jars.problems(jars.CONNECTOR):
        from pyflink.util.java_utils import add_jars_to_context_class_loader
        add_jars_to_context_class_loader([jar.as_uri() for jar in jars.require(jars.CONNECTOR)])


def _host_port(url: str) -> tuple[str, int]:
    match = re.match(r"https?://([^:/]+):?(\d+)?", url)
    return match.group(1), int(match.group(2) or 80)


def _flink_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    return str(value)


def _described(failure: dict) -> str:
    """A failure as a learner reads it: the root cause, then the task and the line of Python."""
    where = f" at {failure['line']}" if failure["line"] else ""
    return f"{failure['root']}\n  in {failure['task'] or 'a task'}{where}"


def _request_cancel(job: "JobHandle") -> None:
    try:
        job.rest.cancel(job.job_id)
    except BadRequest as refused:
        # Flink refuses (409) a job that ended on its own since its state was read; the job's own
        # page can say RUNNING for up to web.refresh-interval after that, so its message decides.
        if "already reached another terminal state" not in str(refused) and job.state() not in TERMINAL_JOB_STATES:
            raise


def cancel_all(jobs: Iterable["JobHandle"], timeout: float = 60) -> None:
    """Cancel several jobs at once, then wait for all of them: side-by-side experiments end together
    (and one TaskManager-loss guard covers them all, see :meth:`JobHandle.cancel`)."""
    running = [job for job in jobs if job.state() not in TERMINAL_JOB_STATES]
    if not running:
        return
    with running[0].cluster.replacing_lost_taskmanagers("cancelling Python jobs"):
        for job in running:
            _request_cancel(job)
        for job in running:
            job.wait_terminal(timeout)


def cancel_jobs_named(name: str, cluster, timeout: float = 30) -> list[str]:
    """Cancel every active job called ``name``: re-running a cell must not leave a duplicate."""
    doomed = [JobHandle(j["jid"], name, cluster) for j in cluster.rest.jobs()
              if j["name"] == name and j["state"] in ACTIVE_JOB_STATES]
    for job in doomed:
        job.cancel(timeout=timeout)
    return [job.job_id for job in doomed]


def submit(build: Callable, *, name: str, config: dict | None = None, restore_from: str | None = None,
           allow_non_restored_state: bool = False, replace: bool = True, cluster=None, **params) -> "JobHandle":
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
                     resubmit_with=JobRecipe(build, name, config, params))


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
               prepare: Callable | None = None, cluster=None) -> "JobHandle":
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


def run_script(script: str | Path, *args: str, config: dict | None = None, cluster=None,
               timeout: float = 120) -> "JobHandle":
    """Submit a standalone PyFlink script with ``flink run -d -py`` (detached).

    The script must build its job under ``if __name__ == "__main__":`` (the Python workers
    import it again). Slower than :func:`submit` (a client JVM starts), but it is how jobs are
    deployed outside a notebook.
    """
    cluster = cluster or current()
    dist = flink_distribution()
    host, port = _host_port(cluster.url)
    dynamic = {"rest.address": host, "rest.port": port, **(config or {})}
    cmd = ["bash", str(dist.bin / "flink"), "run", "-d", "-pyclientexec", lab_python(),
           "-pyexec", lab_python(), *[f"-D{k}={_flink_value(v)}" for k, v in dynamic.items()],
           "-py", str(script), *args]
    env = {**os.environ, "JAVA_HOME": str(find_java().home)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    match = re.search(r"JobID ([0-9a-f]{32})", done.stdout + done.stderr)
    if done.returncode != 0 or not match:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise JobFailed(f"`flink run -py {script}` failed (exit {done.returncode}):\n{tail}")
    job_id = match.group(1)
    return JobHandle(job_id, cluster.rest.job(job_id)["name"], cluster)


@dataclass
class JobRecipe:
    """How a job was built, so it can be submitted again from a savepoint or checkpoint."""
    build: Callable
    name: str
    config: dict
    params: dict


class JobHandle:
    """A running (or finished) job on the cluster, steered over REST."""

    def __init__(self, job_id: str, name: str, cluster, output: Path | None = None,
                 resubmit_with: JobRecipe | None = None):
        self.job_id = job_id
        self.name = name
        self.cluster = cluster
        self.output = output  # the folder the job writes its results to, if labkit gave it one
        self.rest: RestClient = cluster.rest
        self._recipe = resubmit_with

    def __repr__(self) -> str:
        return f"JobHandle({self.name!r}, {self.job_id})"

    def _repr_markdown_(self) -> str:
        return f"job **{self.name}** `{self.job_id}`: **{self.state()}**"

    # --- state --------------------------------------------------------------------------
    def state(self) -> str:
        return self.rest.job(self.job_id)["state"]

    def detail(self) -> dict:
        return self.rest.job(self.job_id)

    def attempts(self) -> list[dict]:
        """Each execution attempt of the job so far, oldest first: ``{"attempt", "start", "end"}``
        in epoch seconds, from the JobManager's own timestamps (``end`` is None while it runs).

        A restart cancels every task and, after the restart strategy's delay, deploys new attempts
        of them (the lab's jobs are one failover region), so the gap between one attempt's end and
        the next one's start is the restart delay: exact, however rarely the job's state was
        polled. An attempt that failed before it was deployed (for want of slots) has no start and
        is left out, and so are attempts older than the JobManager keeps (``ATTEMPTS_KEPT``)."""
        starts: dict[int, float] = {}
        ends: dict[int, float] = {}
        unfinished: set[int] = set()
        for vertex in self.detail()["vertices"]:
            current = self.rest.vertex(self.job_id, vertex["id"])["subtasks"][0]
            earlier = [self.rest.subtask_attempt(self.job_id, vertex["id"], 0, n)
                       for n in range(max(0, current["attempt"] - ATTEMPTS_KEPT), current["attempt"])]
            for attempt in earlier + [current]:
                n = attempt["attempt"]
                if attempt.get("start-time", -1) > 0:
                    starts[n] = min(starts.get(n, float("inf")), attempt["start-time"] / 1000)
                if attempt.get("end-time", -1) > 0:
                    ends[n] = max(ends.get(n, 0.0), attempt["end-time"] / 1000)
                else:
                    unfinished.add(n)
        return [{"attempt": n, "start": starts[n], "end": None if n in unfinished else ends[n]}
                for n in sorted(starts)]

    def vertices(self) -> list[dict]:
        """``[{"id", "name", "parallelism", "status"}]`` in topological order."""
        return [{k: v[k] for k in ("id", "name", "parallelism", "status")} for v in self.detail()["vertices"]]

    def records_in_by_subtask(self) -> dict[str, list[int]]:
        """``{vertex name: [records each subtask read, by subtask index]}``, also after the job ended:
        how evenly the work was spread."""
        return {v["name"]: [int(s["metrics"]["read-records"])
                            for s in self.rest.vertex(self.job_id, v["id"])["subtasks"]]
                for v in self.detail()["vertices"]}

    def input_watermark(self, operator: str) -> int | None:
        """The watermark (epoch ms) at the input of the operator whose name contains ``operator``:
        the smallest over its subtasks; None while one of them has none."""
        vertex = next((v for v in self.vertices() if operator in v["name"]), None)
        if vertex is None:
            raise LabError(f"job {self.name!r} has no operator {operator!r}",
                           hint=f"its operators: {[v['name'] for v in self.vertices()]}")
        marks = self.rest.watermarks(self.job_id, vertex["id"]).values()
        return None if not marks or min(marks) <= NO_WATERMARK else min(marks)

    def taskmanager_ids(self) -> set[str]:
        """The ids (REST, Web UI) of the TaskManagers that run the job's tasks now."""
        return {subtask["taskmanager-id"] for v in self.detail()["vertices"]
                for subtask in self.rest.vertex(self.job_id, v["id"])["subtasks"]
                if subtask.get("status") in ("DEPLOYING", "INITIALIZING", "RUNNING")}

    def _vertex(self, operator: str) -> dict:
        vertices = self.detail()["vertices"]
        vertex = next((v for v in vertices if v["name"].startswith(operator)), None)
        if vertex is None:
            raise LabError(f"job {self.name!r} has no operator {operator!r}",
                           hint=f"its vertices: {[v['name'] for v in vertices]}")
        return vertex

    def vertex_seconds(self, operator: str) -> float:
        """How long the vertex whose name starts with ``operator`` ran, from deployment to its end
        (for a Python operator, its worker's start-up included)."""
        return self._vertex(operator)["duration"] / 1000

    def records_in(self, operator: str) -> int:
        """How many records the vertex whose name starts with ``operator`` has taken in so far."""
        return int(self._vertex(operator)["metrics"]["read-records"])

    def _own_failures_since(self, since_ms: float) -> list[dict]:
        """This job's failures after ``since_ms`` (epoch ms), newest first, that no TaskManager the
        lab killed (``Cluster.kills``) explains."""
        kills = [wall * 1000 for wall in getattr(self.cluster, "kills", [])]
        return [failure for failure in self.exceptions()
                if (failure["timestamp"] or 0) >= since_ms
                and not any(kill - 1000 <= failure["timestamp"] <= kill + INJECTED_FAULT_WINDOW_S * 1000
                            for kill in kills)]

    def _stop_if_failing(self, since_ms: float) -> None:
        """Raise :class:`JobFailing`, after cancelling the job, if it failed on its own since
        ``since_ms``: a failure that restarts would only fail again, while the learner waits."""
        failures = self._own_failures_since(since_ms)
        if not failures:
            return
        try:
            self.cancel()
        except LabError:
            pass  # the cancel is a courtesy; the failure is what the learner needs to read
        cause = _described(failures[0])
        raise JobFailing(f"job {self.name!r} is failing: {cause}\n  {len(failures)} failure(s) "
                         "while waiting, so it was cancelled rather than left restarting", hint=_hint_for(cause))

    def _wait(self, done: Callable[[dict], bool], timeout: float, what: str, poll: float = 0.3) -> dict:
        since_ms = time.time() * 1000
        with Waiting(f"job {self.name} to be {what}", timeout, headless=self.cluster.settings.headless) as wait:
            while True:
                detail = self.detail()
                if done(detail):
                    return detail
                if detail["state"] in ("RESTARTING", "FAILING"):
                    self._stop_if_failing(since_ms)
                if detail["state"] == "FAILED":
                    failures = self.exceptions()
                    cause = _described(failures[0]) if failures else self.root_cause()
                    raise JobFailed(f"job {self.name!r} failed: {cause}", hint=_hint_for(cause))
                if detail["state"] in TERMINAL_JOB_STATES:
                    raise JobFailed(f"job {self.name!r} ended as {detail['state']} while waiting for {what}",
                                    hint="something cancelled or stopped it: `job.exceptions()` "
                                         "and `labkit status` tell more")
                if wait.expired:
                    raise JobTimeout(f"job {self.name!r} not {what} after {timeout:.0f}s (state {detail['state']})")
                wait.pause(poll)

    def wait_running(self, timeout: float = 120) -> "JobHandle":
        """Wait until the job and every task of it run (records can flow), or it already finished."""
        self._wait(lambda d: d["state"] == "FINISHED" or d["state"] == "RUNNING"
                   and all(v["status"] in ("RUNNING", "FINISHED") for v in d["vertices"]),
                   timeout, "running")
        return self

    def wait_finished(self, timeout: float = 300) -> "JobHandle":
        self._wait(lambda d: d["state"] == "FINISHED", timeout, "finished")
        return self

    def wait_terminal(self, timeout: float = 60) -> str:
        with Polling(at_most=timeout) as poll:
            while (state := self.state()) not in TERMINAL_JOB_STATES:
                if poll.expired:
                    raise JobTimeout(f"job {self.name!r} still {state} after {timeout:.0f}s")
                poll.pause(0.2)
        return state

    def cancel(self, wait: bool = True, timeout: float = 60) -> None:
        """Cancel the job (its state is discarded unless checkpoints are retained on cancellation).

        PyFlink 2.3 can crash the TaskManager while cancelling a Python operator ("Reference
        count must not be negative" in AbstractExternalPythonFunctionOperator.close); on the
        lab's local cluster a TaskManager lost that way is replaced, with a warning.
        """
        if self.state() in TERMINAL_JOB_STATES:
            return
        with self.cluster.replacing_lost_taskmanagers("cancelling a Python job"):
            _request_cancel(self)
            if wait:
                self.wait_terminal(timeout)

    # --- what happened ------------------------------------------------------------------
    def config(self) -> dict:
        """The job's configuration as the cluster reports it (not as the code intended), flat:
        ``job-parallelism``, ``restart-strategy``, ``object-reuse-mode`` and, prefixed with
        ``checkpoints.``, the checkpoint config (``mode``, ``interval``, ``state_backend``,
        ``checkpoint_storage``, ``unaligned_checkpoints``, ``externalization``...).

        Python execution options (bundle size, execution mode) are compiled into the Python
        operators and are not reported by the REST API.
        """
        flat = {k: v for k, v in self.rest.job_config(self.job_id)["execution-config"].items() if k != "user-config"}
        flat.update({f"checkpoints.{k}": v for k, v in self.rest.checkpoint_config(self.job_id).items()})
        return flat

    def exceptions(self) -> list[dict]:
        """Failures of this job, newest first: ``[{"timestamp", "exception", "task", "root", "line"}]``
        (``line``: where the user's Python code raised, when the trace shows it)."""
        raw = self.rest.job_exceptions(self.job_id)
        return [{"timestamp": e.get("timestamp"), "exception": e.get("exceptionName", ""),
                 "task": e.get("taskName"), "root": root_cause_line(e.get("stacktrace", "")),
                 "line": python_line(e.get("stacktrace", ""))}
                for e in raw.get("exceptionHistory", {}).get("entries", [])]

    def root_cause(self) -> str:
        """The deepest cause of the newest failure, as one line."""
        raw = self.rest.job_exceptions(self.job_id)
        entries = raw.get("exceptionHistory", {}).get("entries", [])
        trace = entries[0].get("stacktrace", "") if entries else raw.get("root-exception", "")
        return root_cause_line(trace) or "no exception recorded"

    def recoveries(self) -> int:
        """How many times the job restarted from a checkpoint after a failure. (One failure can
        put several entries in the exception history, one per failed task.)"""
        return self.checkpoints()["counts"]["restored"]

    def checkpoints(self) -> dict:
        return self.rest.checkpoints(self.job_id)

    def latest_checkpoint(self) -> str | None:
        """External path of the latest completed checkpoint, if any."""
        latest = (self.checkpoints().get("latest") or {}).get("completed")
        return latest.get("external_path") if latest else None

    def wait_for_checkpoints(self, count: int = 1, timeout: float = 120) -> dict:
        """Wait until ``count`` checkpoints of the job have completed."""
        return self._wait_for_count("completed", count, timeout, "checkpoint(s) completed",
                                    "is checkpointing enabled (execution.checkpointing.interval)?")

    def wait_for_restores(self, count: int, timeout: float = 180) -> dict:
        """Wait until the job has restored from a checkpoint ``count`` times (after failures)."""
        return self._wait_for_count("restored", count, timeout, "restore(s) from a checkpoint",
                                    "is a TaskManager with free slots running? `labkit status` shows it")

    def _wait_for_count(self, counter: str, count: int, timeout: float, what: str, hint: str) -> dict:
        since_ms = time.time() * 1000
        with Waiting(f"{count} {what} of job {self.name}", timeout, headless=self.cluster.settings.headless) as wait:
            while (stats := self.checkpoints())["counts"][counter] < count:
                reached = stats["counts"][counter]
                state = self.state()
                if state in ("RESTARTING", "FAILING"):
                    self._stop_if_failing(since_ms)
                if state in TERMINAL_JOB_STATES:
                    raise JobFailed(f"job {self.name!r} ended after {reached} of {count} {what}")
                if wait.expired:
                    raise JobTimeout(f"job {self.name!r}: {reached} of {count} {what} after {timeout:.0f}s", hint=hint)
                wait.pause(0.3)
        return stats

    # --- savepoints ---------------------------------------------------------------------
    def savepoint(self, target: str | None = None, timeout: float = 120) -> str:
        """Trigger a savepoint and wait for it; returns its location."""
        trigger = self.rest.trigger_savepoint(self.job_id, target)
        return self._await_savepoint(trigger, timeout)

    def stop_with_savepoint(self, target: str | None = None, drain: bool = False, timeout: float = 120) -> str:
        """Stop the job after a final savepoint; returns the savepoint's location."""
        trigger = self.rest.stop_with_savepoint(self.job_id, target, drain=drain)
        location = self._await_savepoint(trigger, timeout)
        self.wait_terminal()
        return location

    def _await_savepoint(self, trigger: str, timeout: float) -> str:
        with Waiting(f"the savepoint of job {self.name}", timeout, headless=self.cluster.settings.headless) as wait:
            while not wait.expired:
                status = self.rest.savepoint_status(self.job_id, trigger)
                if status["status"] == "COMPLETED":
                    if "failure_cause" in status:
                        raise SavepointFailed(f"savepoint of job {self.name!r} failed: {status['failure_cause']}")
                    return status["location"]
                wait.pause(0.2)
        raise JobTimeout(f"savepoint of job {self.name!r} not complete after {timeout:.0f}s")

    def resubmit(self, restore_from: str | None, **config_overrides) -> "JobHandle":
        """Submit the same pipeline again, resuming from a savepoint/checkpoint path."""
        if self._recipe is None:
            raise LabError(f"job {self.name!r} was not submitted by labkit.submit here, so it cannot be rebuilt",
                           hint="submit it again with lk.submit(build, name=..., restore_from=path)")
        recipe = self._recipe
        config = {**recipe.config, **config_overrides}
        config.pop("execution.state-recovery.path", None)
        # The same output folder: what the job wrote before it stopped stays, the resumed job adds to it.
        return submit(recipe.build, name=recipe.name, config=config, restore_from=restore_from,
                      cluster=self.cluster, **recipe.params)


