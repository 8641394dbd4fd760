"""A thin, typed client for the parts of Flink's REST API the lab uses.

Paths and field names are those of Flink 2.3 (docs/errata.md, "Savepoints and checkpoint
monitoring over REST", lists where the tutorial's differ): savepoint status lives under the job
(``/jobs/{id}/savepoints/{trigger}``), ``latest.completed`` is one object, and checkpoint sizes
are ``state_size`` (full) vs ``checkpointed_size`` (what this checkpoint wrote).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, TypedDict
from urllib.parse import urlsplit

import requests

from .errors import BadRequest, ClusterDown, NotFound, RestError, ServerError

JSON = dict[str, Any]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TERMINAL_JOB_STATES = frozenset({"FINISHED", "FAILED", "CANCELED", "SUSPENDED"})
# Flink reports "no watermark yet" as Long.MIN_VALUE (read through a float, it may come back one above).
NO_WATERMARK = -(2**63) + 1


class Overview(TypedDict):
    taskmanagers: int
    slots_total: int
    slots_available: int
    jobs_running: int
    jobs_finished: int
    jobs_cancelled: int
    jobs_failed: int
    flink_version: str


class JobSummary(TypedDict):
    jid: str
    name: str
    state: str
    start_time: int
    end_time: int
    duration: int


class SavepointStatus(TypedDict, total=False):
    status: str          # IN_PROGRESS or COMPLETED (a failure is COMPLETED with failure_cause)
    location: str
    failure_cause: str


class MetricValue(TypedDict, total=False):
    id: str
    value: str
    min: float
    max: float
    avg: float
    sum: float


class RestClient:
    """One method per endpoint; errors become :mod:`labkit.errors` types with the server's message."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        if urlsplit(self.base_url).hostname in LOOPBACK_HOSTS:
            # a proxy from the environment (HTTP_PROXY, ALL_PROXY) cannot reach this machine's loopback
            self._session.trust_env = False

    def __repr__(self) -> str:
        return f"RestClient({self.base_url!r})"

    # --- transport ---------------------------------------------------------------------
    def _request(self, method: str, path: str, *, params: dict | None = None,
                 json: Any = None) -> Any:
        url = self.base_url + path
        try:
            response = self._session.request(method, url, params=params, json=json, timeout=self.timeout)
        except requests.ConnectionError:
            raise ClusterDown(f"no Flink REST API answers at {self.base_url}") from None
        except requests.Timeout:
            raise ClusterDown(f"Flink REST API at {self.base_url} did not answer within {self.timeout}s") from None
        except requests.RequestException as exc:  # e.g. a response cut off by a JobManager under load
            raise ClusterDown(f"the Flink REST API at {self.base_url} broke off: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise _error_for(response, method, url)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerError(f"{method} {url.split('?')[0]} answered with something other than JSON",
                              response.status_code, url, response.text[:300]) from None

    def get(self, path: str, **params) -> Any:
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None} or None)

    def post(self, path: str, body: Any = None) -> Any:
        return self._request("POST", path, json=body if body is not None else {})

    def patch(self, path: str, **params) -> Any:
        return self._request("PATCH", path, params=params or None)

    # --- cluster -----------------------------------------------------------------------
    def overview(self) -> Overview:
        raw = self.get("/overview")
        return Overview(
            taskmanagers=raw["taskmanagers"], slots_total=raw["slots-total"],
            slots_available=raw["slots-available"], jobs_running=raw["jobs-running"],
            jobs_finished=raw["jobs-finished"], jobs_cancelled=raw["jobs-cancelled"],
            jobs_failed=raw["jobs-failed"], flink_version=raw.get("flink-version", ""))

    def cluster_config(self) -> JSON:
        """The JobManager's configuration as a flat ``{key: value}`` dict."""
        return {item["key"]: item["value"] for item in self.get("/jobmanager/config")}

    def taskmanagers(self) -> list[JSON]:
        return self.get("/taskmanagers")["taskmanagers"]

    def taskmanager(self, tm_id: str) -> JSON:
        return self.get(f"/taskmanagers/{tm_id}")

    def taskmanager_metrics(self, tm_id: str, names: Iterable[str]) -> dict[str, float]:
        return _metric_values(self.get(f"/taskmanagers/{tm_id}/metrics", get=",".join(names)))

    def taskmanagers_metrics_sum(self, names: Iterable[str]) -> dict[str, float]:
        """Each metric summed over every TaskManager, in one request."""
        return {m["id"]: float(m["sum"]) for m in self.get("/taskmanagers/metrics", get=",".join(names), agg="sum")}

    # --- jobs --------------------------------------------------------------------------
    def jobs(self) -> list[JobSummary]:
        return [JobSummary(jid=j["jid"], name=j["name"], state=j["state"], start_time=j["start-time"],
                           end_time=j["end-time"], duration=j["duration"])
                for j in self.get("/jobs/overview")["jobs"]]

    def job(self, job_id: str) -> JSON:
        """Job detail: ``state``, ``vertices`` (id, name, parallelism, status, metrics), ``plan``..."""
        return self.get(f"/jobs/{job_id}")

    def job_config(self, job_id: str) -> JSON:
        """The job's configuration; ``execution-config`` and the job-level Flink config."""
        return self.get(f"/jobs/{job_id}/config")

    def job_exceptions(self, job_id: str) -> JSON:
        return self.get(f"/jobs/{job_id}/exceptions")

    def job_metrics(self, job_id: str, names: Iterable[str]) -> dict[str, float]:
        return _metric_values(self.get(f"/jobs/{job_id}/metrics", get=",".join(names)))

    def vertex(self, job_id: str, vertex_id: str) -> JSON:
        return self.get(f"/jobs/{job_id}/vertices/{vertex_id}")

    def subtask_attempt(self, job_id: str, vertex_id: str, subtask: int, attempt: int) -> JSON:
        """One execution attempt of a subtask, also a finished one: ``attempt``, ``status``,
        ``start-time``, ``end-time`` (epoch ms; -1 while not started or not ended)."""
        return self.get(f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/{subtask}/attempts/{attempt}")

    def vertex_metric_names(self, job_id: str, vertex_id: str) -> list[str]:
        return [m["id"] for m in self.get(f"/jobs/{job_id}/vertices/{vertex_id}/metrics")]

    def vertex_metrics(self, job_id: str, vertex_id: str, names: Iterable[str]) -> dict[str, float]:
        """Task-level metrics of subtask-qualified names, e.g. ``0.numRecordsIn``."""
        return _metric_values(self.get(f"/jobs/{job_id}/vertices/{vertex_id}/metrics", get=",".join(names)))

    def subtask_metrics(self, job_id: str, vertex_id: str, names: Iterable[str],
                        agg: str = "sum,avg,min,max") -> dict[str, MetricValue]:
        """Metrics aggregated over a vertex's subtasks: ``{name: {"sum":..,"avg":..,...}}``."""
        raw = self.get(f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics",
                       get=",".join(names), agg=agg)
        return {m["id"]: m for m in raw}

    def watermarks(self, job_id: str, vertex_id: str) -> dict[str, int]:
        """Current input watermark per subtask (``{"0.currentInputWatermark": ms}``)."""
        return {m["id"]: int(float(m["value"])) for m in self.get(f"/jobs/{job_id}/vertices/{vertex_id}/watermarks")}

    # --- checkpoints and savepoints -----------------------------------------------------
    def checkpoints(self, job_id: str) -> JSON:
        """``counts``, ``summary``, ``latest`` (completed/savepoint/failed/restored) and ``history``."""
        return self.get(f"/jobs/{job_id}/checkpoints")

    def checkpoint_config(self, job_id: str) -> JSON:
        return self.get(f"/jobs/{job_id}/checkpoints/config")

    def trigger_savepoint(self, job_id: str, target_directory: str | None = None,
                          cancel_job: bool = False, format_type: str = "CANONICAL") -> str:
        """Start a savepoint; returns the trigger (request) id to poll."""
        body = {"cancel-job": cancel_job, "formatType": format_type}
        if target_directory:
            body["target-directory"] = target_directory
        return self.post(f"/jobs/{job_id}/savepoints", body)["request-id"]

    def savepoint_status(self, job_id: str, trigger_id: str) -> SavepointStatus:
        raw = self.get(f"/jobs/{job_id}/savepoints/{trigger_id}")
        return _operation_status(raw)

    def stop_with_savepoint(self, job_id: str, target_directory: str | None = None,
                            drain: bool = False, format_type: str = "CANONICAL") -> str:
        body = {"drain": drain, "formatType": format_type}
        if target_directory:
            body["targetDirectory"] = target_directory
        return self.post(f"/jobs/{job_id}/stop", body)["request-id"]

    def cancel(self, job_id: str) -> None:
        self.patch(f"/jobs/{job_id}", mode="cancel")


def _operation_status(raw: JSON) -> SavepointStatus:
    status = SavepointStatus(status=raw["status"]["id"])
    operation = raw.get("operation") or {}
    if "failure-cause" in operation:
        cause = operation["failure-cause"]
        trace = cause.get("stack-trace", "") if isinstance(cause, dict) else str(cause)
        status["failure_cause"] = root_cause_line(trace)
    elif "location" in operation:
        status["location"] = operation["location"]
    return status


def root_cause_line(stack_trace: str) -> str:
    """The deepest 'Caused by:' line of a Java stack trace: usually the one a learner needs."""
    causes = [line.strip() for line in stack_trace.splitlines() if line.strip().startswith("Caused by:")]
    if causes:
        return causes[-1].removeprefix("Caused by:").strip()
    return stack_trace.splitlines()[0] if stack_trace else ""


# A Python frame in a process-mode worker's traceback (innermost last) ...
_TRACEBACK_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
# ... and in a thread-mode (pemja) Java trace (innermost first): at /dir/module.function(file.py:12)
_PEMJA_FRAME = re.compile(r"at (/[^\s(]*/)[\w.]+?\.(\w+)\((\w+\.py):(\d+)\)")
# Frames of the machinery that runs a function, not of the function's author.
_LIBRARY_FRAME = re.compile(r"site-packages|dist-packages|/lib/python3\.\d+/|<frozen ")


def python_line(stack_trace: str) -> str | None:
    """``file:line in function`` of the innermost Python frame of a failure's trace that is not in
    an installed library: the line of the user's code that raised, where Python gives it."""
    frames = [(directory + file, line, function)
              for directory, function, file, line in _PEMJA_FRAME.findall(stack_trace)]
    frames.reverse()  # innermost last, as in a Python traceback
    frames += [(path, line, function) for path, line, function in _TRACEBACK_FRAME.findall(stack_trace)]
    own = [frame for frame in frames if not _LIBRARY_FRAME.search(frame[0])]
    if not own:
        return None
    path, line, function = own[-1]
    return f"{path}:{line} in {function}"


def _metric_values(raw: list[JSON]) -> dict[str, float]:
    values = {}
    for item in raw:
        try:
            values[item["id"]] = float(item["value"])
        except (KeyError, TypeError, ValueError):
            continue  # e.g. lastCheckpointExternalPath is a string, "n/a" before the first checkpoint
    return values


def _error_for(response: requests.Response, method: str, url: str) -> RestError:
    try:
        errors = response.json().get("errors", [])
        server_message = root_cause_line(errors[-1]) if errors else response.text[:300]
        if errors and errors[0] and not errors[0].startswith(("org.", "java.")):
            server_message = errors[0].splitlines()[0]
    except ValueError:
        server_message = response.text[:300]
    status = response.status_code
    kind = NotFound if status == 404 else BadRequest if 400 <= status < 500 else ServerError
    return kind(f"{method} {url.split('?')[0]} failed", status, url, server_message)
