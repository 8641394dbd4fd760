"""A job on the cluster, read and steered through its handle: its state, attempts, failures and
checkpoints, waits that stop at a failure of its own, cancelling, savepoints and a resubmission.

A handle comes from :mod:`labkit.jobs`, which submits the job; the handle reads and steers it over
the cluster's REST API, and asks the cluster (passed in, never imported) to replace a TaskManager
a cancel crashed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import BadRequest, ClusterDown, JobFailed, JobFailing, JobTimeout, LabError, SavepointFailed
from .progress import Polling, Waiting
from .rest import NO_WATERMARK, TERMINAL_JOB_STATES, RestClient, python_line, root_cause_line

# A failure this long after the lab killed a TaskManager is the kill's doing, not the job's own:
# the JobManager notices a lost TaskManager at the latest when its heartbeats time out.
INJECTED_FAULT_WINDOW_S = 60

# Past execution attempts of each task the JobManager keeps (jobmanager.execution.attempts-history-size).
ATTEMPTS_KEPT = 16

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


@dataclass
class JobRecipe:
    """How a job was built, so it can be submitted again from a savepoint or checkpoint, by
    ``submit``: :func:`labkit.jobs.submit`, which wrote the recipe, hands itself in (submission
    sits above the handle, which imports nothing of it)."""
    build: Callable
    name: str
    config: dict
    params: dict
    submit: Callable[..., JobHandle]


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
        """This job's failures after ``since_ms`` (epoch ms), newest first, that no process the lab
        killed (``Cluster.kills``) explains: a kill explains the failures of a job that was running
        at the time, and those in the minute after it."""
        started_ms = self.detail()["start-time"]
        kills = [wall * 1000 for wall in getattr(self.cluster, "kills", []) if wall * 1000 >= started_ms]
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
                try:
                    detail = self.detail()
                except ClusterDown:
                    raise ClusterDown(
                        f"the lab's cluster went down while waiting for job {self.name!r} to be {what}: the job is "
                        "gone, and with it its state, but for a savepoint or retained checkpoint it wrote",
                        hint="start the lab (`labkit up`, `lk.up()`), then submit the job again: `job.resubmit(None)` "
                             "from scratch, `job.resubmit(path)` from a savepoint or retained checkpoint"
                    ) from None
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
        return recipe.submit(recipe.build, name=recipe.name, config=config, restore_from=restore_from,
                             cluster=self.cluster, **recipe.params)
