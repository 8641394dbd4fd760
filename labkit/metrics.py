"""Background sampling of a job's metrics from the REST API into a pandas DataFrame.

One sampler per job name: starting a new one (e.g. by re-running a notebook cell) stops the
previous. Sampling stops by itself when the job reaches a terminal state.

Columns of :meth:`MetricsSampler.frame`: ``t`` (seconds since start), ``job_state``, then
``<vertex>.<metric>`` per vertex (``sum`` over subtasks for counts and rates, ``min`` for the
input watermark), ``job.<metric>`` (checkpoints, restarts), ``tm.<metric>`` summed over
TaskManagers (memory) and ``extra.<name>`` for the extra probes given to the sampler (e.g. bytes
on disk).

Busy, backpressured and idle time are measured over the last 5 s before each sample
(:func:`time_shares`). Flink's gauges of the same names (``busyTimeMsPerSecond``...) average over
the last 60 s: a job that saturates for 10 s, or a task's start-up, would show in them for a
minute. Flink also keeps each task's accumulated busy, backpressured and idle milliseconds, which
the sampler reads from the job's details; their growth over a span says what the vertex did in
it, as a share of that span (mean over its subtasks). The REST API refreshes metrics about once
a second, so two samples may see one snapshot: those accumulated times did not advance, and the
sample is marked stale (``<vertex>.stale``), its counters left out rather than read as "no
records", and drawn as a gap.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .errors import LabError
from .progress import Polling
from .rest import NO_WATERMARK, TERMINAL_JOB_STATES
from .running_job import RunningJob

# metric -> how to aggregate it over a vertex's subtasks
VERTEX_METRICS: dict[str, str] = {
    "numRecordsIn": "sum",
    "numRecordsOut": "sum",
    "numRecordsInPerSecond": "sum",
    "numRecordsOutPerSecond": "sum",
    "currentInputWatermark": "min",
}
# Accumulated milliseconds per vertex, summed over its subtasks, as the job's details give them:
# REST field -> sampled column.
ACCUMULATED_TIMES = {"accumulated-busy-time": "accumulatedBusyTimeMs",
                     "accumulated-backpressured-time": "accumulatedBackPressuredTimeMs",
                     "accumulated-idle-time": "accumulatedIdleTimeMs"}
# Sampled accumulated column -> the per-interval share it becomes (named as Flink's gauges).
TIME_SHARES = {"accumulatedBusyTimeMs": "busyTimeMsPerSecond",
               "accumulatedBackPressuredTimeMs": "backPressuredTimeMsPerSecond",
               "accumulatedIdleTimeMs": "idleTimeMsPerSecond"}
# Busy, backpressured and idle time are shares of at least this span: Flink's metric update period.
SHARE_WINDOW_S = 5.0
# Counters left out of a stale sample: the REST layer had not refreshed them.
COUNTERS = ("numRecordsIn", "numRecordsOut")
JOB_METRICS = ("lastCheckpointDuration", "lastCheckpointSize", "lastCheckpointFullSize",
               "numberOfCompletedCheckpoints", "numberOfFailedCheckpoints", "numRestarts")
TASKMANAGER_METRICS = ("Status.JVM.Memory.Heap.Used", "Status.Flink.Memory.Managed.Used",
                       "Status.JVM.CPU.Load")

# A loaded JobManager may drop a request now and then; this many failures in a row mean it is gone.
MAX_FAILED_SAMPLES_IN_A_ROW = 5


_active: dict[str, "MetricsSampler"] = {}


@dataclass(frozen=True)
class Vertex:
    id: str
    name: str

    @property
    def label(self) -> str:
        """Short, readable name: the first of the chained operators Flink lists in a vertex name."""
        first = self.name.split(" -> ")[0]
        first = re.sub(r"\[\d+\]", "", first.removeprefix("Source: "))
        return first.replace(":", "").strip()[:40]


class MetricsSampler:
    def __init__(self, job: RunningJob, interval: float = 1.0, vertex_metrics: dict[str, str] | None = None,
                 job_metrics=JOB_METRICS, taskmanager_metrics=TASKMANAGER_METRICS,
                 extras: dict[str, Callable[[], float]] | None = None):
        if interval <= 0:
            raise LabError(f"sampling interval must be positive, got {interval}")
        self.job = job
        self.interval = interval
        self.vertex_metrics = vertex_metrics or VERTEX_METRICS
        self.job_metrics = tuple(job_metrics)
        self.taskmanager_metrics = tuple(taskmanager_metrics)
        self.extras = dict(extras or {})
        self.rows: list[dict] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._lock = threading.Lock()
        self._names: dict[str, list[str]] = {}
        self._order: list[str] = []  # vertex labels in the job's topological order

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> "MetricsSampler":
        previous = _active.get(self.job.name)
        if previous is not None and previous is not self:
            previous.stop()
        _active[self.job.name] = self
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"labkit-sampler-{self.job.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        if _active.get(self.job.name) is self:
            del _active[self.job.name]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> "MetricsSampler":
        """Block until sampling ends (the job finished or :meth:`stop` was called)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self

    def _run(self) -> None:
        failed_in_a_row = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                row = self.sample()
                with self._lock:
                    self.rows.append(row)
                failed_in_a_row = 0
                if row["job_state"] in TERMINAL_JOB_STATES:
                    break
            except Exception as exc:  # noqa: BLE001 - one failed sample must not end the series silently
                self.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                failed_in_a_row += 1
                if failed_in_a_row >= MAX_FAILED_SAMPLES_IN_A_ROW:  # a down cluster ends sampling, with its reasons
                    break
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        if _active.get(self.job.name) is self:
            del _active[self.job.name]

    # --- one sample ---------------------------------------------------------------------
    def sample(self) -> dict:
        rest, job_id = self.job.rest, self.job.job_id
        detail = rest.job(job_id)
        row: dict = {"t": round(time.monotonic() - self._t0, 3), "wall": time.time(), "job_state": detail["state"]}
        if detail["state"] == "RUNNING":
            self._order = [Vertex(v["id"], v["name"]).label for v in detail["vertices"]]
            for v in detail["vertices"]:
                vertex = Vertex(v["id"], v["name"])
                for field, column in ACCUMULATED_TIMES.items():
                    row[f"{vertex.label}.{column}"] = float(v.get("metrics", {}).get(field, "NaN"))
                wanted = self._available(vertex)
                if not wanted:
                    continue
                metrics = rest.subtask_metrics(job_id, vertex.id, wanted)
                for name, agg in self.vertex_metrics.items():
                    if name in metrics and agg in metrics[name]:
                        value = float(metrics[name][agg])  # the API sends "NaN" as a string
                        if name == "currentInputWatermark" and value <= NO_WATERMARK:
                            value = float("nan")
                        row[f"{vertex.label}.{name}"] = value
            for name, value in rest.job_metrics(job_id, self.job_metrics).items():
                row[f"job.{name}"] = value
        if self.taskmanager_metrics:
            for name, value in rest.taskmanagers_metrics_sum(self.taskmanager_metrics).items():
                row[f"tm.{name}"] = value
        for name, probe in self.extras.items():
            row[f"extra.{name}"] = probe()
        return row

    def _available(self, vertex: Vertex) -> list[str]:
        """The wanted metrics this vertex has: the aggregating endpoint answers nothing at all
        if one name is unknown (a source has no input watermark)."""
        if vertex.id not in self._names:
            known = self.job.rest.vertex_metric_names(self.job.job_id, vertex.id)
            names = {n.split(".", 1)[1] for n in known if "." in n}
            if not names:
                return []  # not registered yet: ask again next time
            self._names[vertex.id] = [m for m in self.vertex_metrics if m in names]
        return self._names[vertex.id]

    # --- results ------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        with self._lock:
            rows = list(self.rows)
        if not rows:
            return pd.DataFrame()
        frame = time_shares(pd.DataFrame(rows).set_index("t"))
        # Columns appear as each vertex's metrics register, not in pipeline order: put the vertices'
        # columns in the job's order (after the job-wide ones), so "upstream" reads left to right.
        position = {label: i for i, label in enumerate(self._order)}
        return frame[sorted(frame.columns, key=lambda column: position.get(column.rpartition(".")[0], -1))]


def time_shares(frame: pd.DataFrame, window_s: float = SHARE_WINDOW_S) -> pd.DataFrame:
    """``frame`` with each vertex's busy, backpressured and idle ms per second over the last
    ``window_s`` before each sample (``<vertex>.busyTimeMsPerSecond``...), from the growth of its
    accumulated times, and ``<vertex>.stale`` true where the sample repeats the REST layer's
    previous snapshot (its counters are then NaN: unknown, not zero).

    Flink adds a wait to a task's accumulated idle or backpressured time when the wait ends, and
    a wait still going on at its metric update, every 5 s: until then the task's clock counts it as
    busy. A span shorter than that would show a task that waits seconds at a time as busy, then as
    waiting; a span of at least one update does not. Each share is an accumulated time's growth
    over the growth of all three (the wall time spanned, times the running subtasks), so a late
    snapshot still gives the right share of the time it covers. A restarted job's tasks count from
    zero again: a span across the restart gets no value."""
    frame = frame.copy()
    vertices = sorted({c.rsplit(".", 1)[0] for c in frame.columns if c.endswith(".accumulatedIdleTimeMs")})
    for vertex in vertices:
        columns = [f"{vertex}.{column}" for column in TIME_SHARES]
        times = frame[columns].astype(float)
        total = times.sum(axis=1, min_count=len(TIME_SHARES))
        known = total.dropna()
        stale = known.diff() == 0
        fresh = times.loc[stale.index[~stale]]
        restarts = np.cumsum(np.r_[0, np.diff(fresh.sum(axis=1).to_numpy()) < 0])
        at = fresh.index.to_numpy(dtype=float)
        values = fresh.to_numpy()
        shares = np.full(values.shape, np.nan)
        for row in range(len(fresh)):
            start = np.searchsorted(at, at[row] - window_s, side="right") - 1
            if start < 0 or restarts[start] != restarts[row]:
                continue
            grown = np.clip(values[row] - values[start], 0, None)  # busy time is a remainder: it may step back
            if grown.sum() > 0:
                shares[row] = 1000.0 * grown / grown.sum()
        shares = pd.DataFrame(shares, index=fresh.index, columns=columns)
        for column, share in TIME_SHARES.items():
            frame[f"{vertex}.{share}"] = shares[f"{vertex}.{column}"].reindex(frame.index)
        frame[f"{vertex}.stale"] = stale.reindex(frame.index, fill_value=False)
        for counter in COUNTERS:
            if f"{vertex}.{counter}" in frame:
                frame[f"{vertex}.{counter}"] = frame[f"{vertex}.{counter}"].astype(float).mask(frame[f"{vertex}.stale"])
    return frame


def sample(job: RunningJob, interval: float = 1.0, **kwargs) -> MetricsSampler:
    """Start sampling ``job`` in the background (stopping an earlier sampler of the same job)."""
    return MetricsSampler(job, interval, **kwargs).start()


def steady_rate(frame: pd.DataFrame, column: str, settle: float = 0.1, min_span: float = 2.0) -> float:
    """Records/s of a cumulative counter while it was climbing, ignoring start-up and the tail.

    Uses the samples between the first non-zero value and the last one before the counter
    stopped moving, dropping the first ``settle`` fraction of that span (warm-up).
    """
    if column not in frame:
        raise LabError(f"no samples of {column!r}", hint=f"sampled columns: {sorted(frame.columns)}")
    series = frame[column].dropna()
    series = series[series > 0]
    if len(series) < 3:
        return float("nan")
    final = series.iloc[-1]
    climbing = series[series < final]
    if len(climbing) < 2:
        return float("nan")
    start = climbing.index[0] + settle * (climbing.index[-1] - climbing.index[0])
    window = series[(series.index >= start)]
    window = window[window <= final]
    # the first sample at the final value closes the window
    end_t = series[series >= final].index[0]
    t0 = window.index[0]
    if end_t - t0 < min_span:
        return float("nan")
    return float((final - window.iloc[0]) / (end_t - t0))


def measure_rate(job: RunningJob, operator: str, records: int, timeout: float = 300) -> tuple[float, float]:
    """(steady records/s into ``operator``, wall seconds from RUNNING to FINISHED) of a submitted,
    bounded job. Too short to sample (a fast JVM job): records over the running time of the
    operator's vertex (the job's duration would add scheduling and deployment, which at a
    million records/s outweigh the work)."""
    job.wait_running(timeout)
    started = time.monotonic()
    sampler = sample(job, interval=0.5, taskmanager_metrics=())
    job.wait_finished(timeout)
    wall = time.monotonic() - started
    sampler.wait(30)
    frame = sampler.frame()
    column = _records_in_column(frame, operator)
    rate = steady_rate(frame, column) if column else float("nan")
    if rate != rate:
        rate = records / job.vertex_seconds(operator)
    return rate, wall


def sustained_rate(job: RunningJob, operator: str, seconds: float, min_steps: int = 1, timeout: float = 180) -> float:
    """Records/s into ``operator`` of a running (unbounded) job, which keeps running: its caller
    decides when it ends (``experiments.rate_then_cancel`` cancels it at once).

    Time-boxed, unlike :func:`measure_rate`, so fast and slow configurations cost about the same
    wall time. A Python operator takes its input a bundle at a time, so its counter climbs in
    steps: the rate is measured from the first step to the last, over at least ``seconds`` and
    ``min_steps`` steps after the first (a slow configuration takes longer than ``seconds``).
    """
    job.wait_running(timeout)
    sampler = sample(job, interval=0.5, taskmanager_metrics=(), job_metrics=())
    try:
        with Polling(at_most=timeout) as poll:
            while True:
                poll.pause(0.5)
                steps = _counter_steps(sampler.frame(), operator)
                if len(steps) > min_steps and steps.index[-1] - steps.index[0] >= seconds:
                    break
                if poll.expired or not sampler.running:
                    raise LabError(f"{operator!r} of job {job.name!r} took in only {len(steps)} batches of records "
                                   f"in {poll.elapsed:.0f} s: too slow to measure",
                                   hint=f"sampling: {len(sampler.rows)} samples, "
                                        f"{'; '.join(sampler.errors[-3:]) or 'no errors'}; "
                                        f"the job's last failure: {job.root_cause()}")
    finally:
        sampler.stop()
    return float((steps.iloc[-1] - steps.iloc[0]) / (steps.index[-1] - steps.index[0]))


def counter_moves(series: pd.Series) -> pd.Series:
    """The samples at which a cumulative counter took a new value (its first sample included):
    a Python operator's counters move a bundle at a time, and only these samples say when."""
    series = series.dropna()
    return series[series.diff().fillna(1) != 0]


def _counter_steps(frame: pd.DataFrame, operator: str) -> pd.Series:
    """The samples at which ``operator``'s numRecordsIn took a new (non-zero) value."""
    column = _records_in_column(frame, operator)
    if column is None:
        return pd.Series(dtype=float)
    return counter_moves(frame[column][frame[column] > 0])


def _records_in_column(frame: pd.DataFrame, operator: str) -> str | None:
    """The sampled ``numRecordsIn`` column of the vertex whose label starts with ``operator``."""
    return next((c for c in frame.columns if c.startswith(operator) and c.endswith(".numRecordsIn")), None)
