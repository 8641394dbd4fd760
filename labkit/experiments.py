"""Experiments that run several jobs and compare them (chapters 05 and 06, and the bench):
throughput and latency of a pipeline under a job configuration, and where a pipeline's bottleneck
is. The pipelines they run are in :mod:`labkit.pipelines`."""
from __future__ import annotations

import pandas as pd

from . import jobs, metrics
from .errors import LabError
from .job_handle import JobHandle
from .pipelines import keyed_count as kc
from .pipelines import vectorized as vz
from .pipelines.tuning import build_latency_probe, read_latencies


def latency_summary(latencies: pd.DataFrame, warmup_s: float = 2.0) -> dict:
    """p50 / p99 / max after the first ``warmup_s`` seconds of input, which wait for the Python
    worker to start and say nothing about the configuration under test."""
    steady = latencies.loc[latencies["created_s"] >= warmup_s, "latency_ms"]
    if steady.empty:
        created = latencies["created_s"].max() if len(latencies) else 0.0
        raise LabError(f"no record was created after the first {warmup_s:g} s of the probe's input "
                       f"({len(latencies)} records over {created:.1f} s): nothing to measure",
                       hint="give the probe more records, so that its input lasts well beyond the warm-up")
    return {"records": len(steady), "p50_ms": float(steady.quantile(0.5)), "p99_ms": float(steady.quantile(0.99)),
            "max_ms": float(steady.max())}


def run_latency_probe(name: str, config: dict, *, rate: int, records: int, keys: int, timeout: float = 300) -> dict:
    """Run the probe with job ``config`` until its input ends; its latency summary."""
    job = jobs.submit(build_latency_probe, name=name, config=config, rate=rate, records=records, keys=keys)
    job.wait_finished(timeout)
    return latency_summary(read_latencies(job.output))


def python_throughput(name: str, config: dict, *, records: int, keys: int, timeout: float = 300) -> dict:
    """Records/s of chapter 00's keyed count (Python, ValueState) under job ``config``, and
    whether its counts came out exact."""
    job = jobs.submit(kc.build, name=name, config=config, records=records, keys=keys)
    rate, wall = metrics.measure_rate(job, "count-per-key", records, timeout)
    exact = kc.read_counts(job.output) == kc.expected_counts(records, keys)
    return {"records_per_s": rate, "wall_s": wall, "exact": exact}


def sustained_python_rate(name: str, config: dict, *, keys: int, seconds: float) -> float:
    """Records/s of the same keyed count, unbounded, over ``seconds`` (then cancelled)."""
    job = jobs.submit(kc.build, name=name, config=config, records=10**12, keys=keys)
    return rate_then_cancel(job, "count-per-key", seconds)


def jvm_throughput(name: str, config: dict, *, records: int, keys: int, timeout: float = 300) -> dict:
    """Records/s of the same count per key in Flink SQL: no Python anywhere (the ceiling)."""
    job = jobs.submit_sql(kc.sql_statements(keys), name=name, config=config, prepare=kc.register_numbers(records))
    rate, wall = metrics.measure_rate(job, "GroupAggregate", records, timeout)
    return {"records_per_s": rate, "wall_s": wall}


def python_key_throughput(name: str, config: dict, *, records: int, keys: int, vectorized: bool,
                          timeout: float = 300) -> float:
    """Records/s of the count per key in the Table API with its key computed by a Python function,
    row at a time or vectorized (:mod:`labkit.pipelines.vectorized`); the counting is the JVM's."""
    job = jobs.submit_sql(vz.statements(), name=name, config=config, prepare=vz.register(records, keys, vectorized))
    rate, _ = metrics.measure_rate(job, "GroupAggregate", records, timeout)
    return rate


def jvm_rates(configs: dict[str, dict], *, records: int, keys: int, repeats: int = 2, name: str = "jvm") -> pd.Series:
    """Records/s of the JVM-only count under each configuration: the best of ``repeats`` runs
    taken in turns (A, B, A, B), because on a fresh TaskManager each JVM job runs faster than the
    one before it (the JIT is still warming up) and the first configuration would lose."""
    best = dict.fromkeys(configs, 0.0)
    for _ in range(repeats):
        for label, config in configs.items():
            result = jvm_throughput(f"{name}-{label}", config, records=records, keys=keys)
            best[label] = max(best[label], result["records_per_s"])
    return pd.Series(best, name="records/s")


def sustained_jvm_rate(name: str, config: dict, *, keys: int, seconds: float) -> float:
    """Records/s of the JVM-only count, unbounded, over ``seconds`` (then cancelled): for
    configurations too slow to finish a fixed input in a predictable time."""
    job = jobs.submit_sql(kc.sql_statements(keys), name=name, config=config, prepare=kc.register_numbers(10**12))
    return rate_then_cancel(job, "GroupAggregate", seconds)


def rate_then_cancel(job: JobHandle, operator: str, seconds: float) -> float:
    """Records/s into ``operator`` of an unbounded ``job`` over ``seconds``
    (:func:`labkit.metrics.sustained_rate`), then the job cancelled, also when the measurement
    failed, and its slots back for the next job of a series."""
    try:
        return metrics.sustained_rate(job, operator, seconds)
    finally:
        job.cancel()
        _wait_for_free_slots(job.cluster)


def _wait_for_free_slots(cluster, timeout: float = 30) -> None:
    """A cancelled job's slots come back a moment after it is CANCELED; a measurement series
    submitting its next job at once (at a parallelism that needs every slot) would otherwise
    fail with NoResourceAvailableException. Other labs' jobs may hold slots on a shared
    cluster, so this waits at most ``timeout`` and never fails."""
    try:
        cluster.wait_until(lambda o: o["slots_available"] == o["slots_total"], timeout, "free slots")
    except LabError:
        pass


def stage_load(frame: pd.DataFrame, last: int = 5) -> pd.DataFrame:
    """Per task: busy and backpressured ms per second, the median of the ``last`` samples' values
    (each the share of its own interval, :func:`labkit.metrics.time_shares`): the end of the run,
    when the pipeline is saturated and every worker has long started."""
    rows = {}
    for column in frame.columns:
        label, _, metric = column.rpartition(".")
        if (metric in ("busyTimeMsPerSecond", "backPressuredTimeMsPerSecond")
                and not label.startswith(("job", "tm", "extra"))):
            rows.setdefault(label, {})[metric] = frame[column].dropna().iloc[-last:].median()
    if not rows:
        raise LabError(f"no busy or backpressured time among {len(frame)} samples",
                       hint="the JobManager reported no task metrics for this job: was it running? "
                            "(after a TaskManager was killed they can lag by up to web.timeout)")
    table = pd.DataFrame(rows).T.rename(columns={"busyTimeMsPerSecond": "busy ms/s",
                                                  "backPressuredTimeMsPerSecond": "backpressured ms/s"})
    return table[["busy ms/s", "backpressured ms/s"]]


def bottleneck(load: pd.DataFrame) -> str:
    """Flink's rule: the tasks upstream of a bottleneck are backpressured (waiting for buffers),
    the bottleneck itself is not, and it is busy; the tasks after it idle."""
    busy_free = load[(load["busy ms/s"] > 500) & (load["backpressured ms/s"] < 500)]
    if busy_free.empty:
        raise LabError("no task is both busy and free of backpressure: the pipeline is not saturated",
                       hint="run the job flat out (no pacing) for longer, then read its load again")
    return busy_free["busy ms/s"].idxmax()
