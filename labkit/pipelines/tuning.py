"""Chapters 05 and 06's measuring instruments: end-to-end latency, throughput per configuration, and a
three-stage pipeline with one slow stage for finding bottlenecks from backpressure metrics.

Latency probe, end to end::

    datagen (JVM, paced; stamps each row with its creation time) -> key_by (Python)
    -> TimedCount (Python, ValueState count) -> back in the JVM: stamp the arrival time -> files

Both stamps are taken in the JVM, outside Python: the latency includes the wait for the record's
bundle to start and to finish (Python hands its output back at the end of a bundle), the
network buffers on the way there and back, and the state round trips. A stamp taken inside the
Python function would miss the output side of the bundle. Flink's ``datagen`` paces by the
second: each second's rows leave in one burst at its start, so the last rows of a burst also
wait for the ones before them.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, MapFunction
from pyflink.datastream.state import ValueStateDescriptor

from .. import jobs, metrics
from . import keyed_count as kc
from .common import output_dir, read_lines, sequence_source, text_sink

STAGES = ("parse", "enrich", "score")


class TimedCount(KeyedProcessFunction):
    """Counts per key in ValueState and passes each record's creation time (epoch ms) on."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, row, ctx):
        self.count.update((self.count.value() or 0) + 1)
        yield Row(row[1].to_epoch_milli())


def build_latency_probe(env, *, rate: int, records: int, keys: int, output: Path) -> None:
    """``records`` rows at ``rate`` per second (in total), each timed from creation to its
    return from Python."""
    from pyflink.table import StreamTableEnvironment

    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    # CURRENT_ROW_TIMESTAMP() is evaluated per row, in the JVM task that computes it.
    t_env.execute_sql(
        "CREATE TEMPORARY TABLE ticks (k INT, created AS CURRENT_ROW_TIMESTAMP()) WITH ("
        f"'connector' = 'datagen', 'rows-per-second' = '{rate}', 'number-of-rows' = '{records}', "
        f"'fields.k.min' = '0', 'fields.k.max' = '{keys - 1}')")
    ticks = t_env.to_data_stream(t_env.sql_query("SELECT k, created FROM ticks"))
    counted = ticks.key_by(lambda row: row[0], key_type=Types.INT()) \
        .process(TimedCount(), output_type=Types.ROW_NAMED(["created_ms"], [Types.LONG()])).name("timed-count")
    t_env.create_temporary_view("counted", t_env.from_data_stream(counted))
    arrived = t_env.sql_query("SELECT created_ms, CAST(CURRENT_ROW_TIMESTAMP() AS STRING) AS arrived FROM counted")
    t_env.to_data_stream(arrived).sink_to(text_sink(output)).name("latencies")


def read_latencies(output: Path) -> pd.DataFrame:
    """Every record's creation time (s since the first) and creation-to-return latency in ms."""
    # the sink writes Flink rows as "+I[created_ms, arrived]"
    fields = [line.strip("+I[]").split(", ") for line in read_lines(output)]
    created = pd.Series([int(c) for c, _ in fields], dtype="int64")
    arrived = pd.to_datetime([a for _, a in fields], utc=True).as_unit("ms").asi8
    frame = pd.DataFrame({"created_s": (created - created.min()) / 1000, "latency_ms": arrived - created})
    return frame.sort_values("created_s").reset_index(drop=True)


def latency_summary(latencies: pd.DataFrame, warmup_s: float = 2.0) -> dict:
    """p50 / p99 / max after the first ``warmup_s`` seconds of input, which wait for the Python
    worker to start and say nothing about the configuration under test."""
    steady = latencies.loc[latencies["created_s"] >= warmup_s, "latency_ms"]
    return {"records": len(steady), "p50_ms": float(steady.quantile(0.5)), "p99_ms": float(steady.quantile(0.99)),
            "max_ms": float(steady.max())}


def run_latency_probe(name: str, config: dict, *, rate: int, records: int, keys: int, timeout: float = 300) -> dict:
    """Run the probe with job ``config`` until its input ends; its latency summary."""
    output = output_dir(name)
    job = jobs.submit(lambda env: build_latency_probe(env, rate=rate, records=records, keys=keys, output=output),
                      name=name, config=config)
    job.wait_finished(timeout)
    return latency_summary(read_latencies(output))


def python_throughput(name: str, config: dict, *, records: int, keys: int, timeout: float = 300) -> dict:
    """Records/s of chapter 00's keyed count (Python, ValueState) under job ``config``, and
    whether its counts came out exact."""
    output = output_dir(name)
    job = jobs.submit(lambda env: kc.build(env, records=records, keys=keys, output=output), name=name, config=config)
    rate, wall = metrics.measure_rate(job, "count-per-key", records, timeout)
    return {"records_per_s": rate, "wall_s": wall, "exact": kc.read_counts(output) == kc.expected_counts(records, keys)}


def sustained_python_rate(name: str, config: dict, *, keys: int, seconds: float) -> float:
    """Records/s of the same keyed count, unbounded, over ``seconds`` (then cancelled)."""
    output = output_dir(name)
    job = jobs.submit(lambda env: kc.build(env, records=10**12, keys=keys, output=output), name=name, config=config)
    return metrics.sustained_rate(job, "count-per-key", seconds)


def jvm_throughput(name: str, config: dict, *, records: int, keys: int, timeout: float = 300) -> dict:
    """Records/s of the same count per key in Flink SQL: no Python anywhere (the ceiling)."""
    job = jobs.submit_sql(kc.sql_statements(keys), name=name, config=config, prepare=kc.register_numbers(records))
    rate, wall = metrics.measure_rate(job, "GroupAggregate", records, timeout)
    return {"records_per_s": rate, "wall_s": wall}


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
    return metrics.sustained_rate(job, "GroupAggregate", seconds)


class Stage(MapFunction):
    """One stage of :func:`build_stages`: ``work_ms`` of simulated work per record (a lookup,
    a model call), else a pass-through."""

    def __init__(self, work_ms: float):
        self.work_ms = work_ms

    def map(self, value):
        if self.work_ms:
            time.sleep(self.work_ms / 1000)
        return value


def build_stages(env, *, records: int, work_ms: dict[str, float], output: Path, chained: bool = False) -> None:
    """sequence -> parse -> enrich -> score -> count per key; ``work_ms`` gives stages per-record
    work. Unchained, each stage is its own task with its own busy and backpressure metrics (and
    its own trip out of and back into the JVM); chained, the three run in one Python worker."""
    unknown = set(work_ms) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}: the stages are {STAGES}")
    stream = sequence_source(env, records)
    for stage in STAGES:
        stream = stream.map(Stage(work_ms.get(stage, 0.0)), output_type=Types.LONG()).name(stage)
        if not chained:
            stream = stream.disable_chaining()
    stream.key_by(lambda n: n % 10, key_type=Types.LONG()) \
        .process(kc.CountPerKey(), output_type=Types.STRING()).name("count-per-key") \
        .sink_to(text_sink(output)).name("results")


def stage_load(frame: pd.DataFrame, last: int = 5) -> pd.DataFrame:
    """Per task: busy and backpressured ms per second, the median of the ``last`` samples.

    Only the end of the run counts: while the Python workers start every task reports itself
    busy, and Flink refreshes these gauges every 5 s (they are averages over that window), so
    a job needs about 15 s before they describe its steady state.
    """
    rows = {}
    for column in frame.columns:
        label, _, metric = column.rpartition(".")
        if metric in ("busyTimeMsPerSecond", "backPressuredTimeMsPerSecond") and not label.startswith(("job", "tm", "extra")):
            rows.setdefault(label, {})[metric] = frame[column].dropna().iloc[-last:].median()
    table = pd.DataFrame(rows).T.rename(columns={"busyTimeMsPerSecond": "busy ms/s",
                                                  "backPressuredTimeMsPerSecond": "backpressured ms/s"})
    return table[["busy ms/s", "backpressured ms/s"]]


def bottleneck(load: pd.DataFrame) -> str:
    """Flink's rule: the tasks upstream of a bottleneck are backpressured (waiting for buffers),
    the bottleneck itself is not, and it is busy; the tasks after it idle."""
    busy_free = load[(load["busy ms/s"] > 500) & (load["backpressured ms/s"] < 500)]
    if busy_free.empty:
        raise ValueError("no task is both busy and free of backpressure: the pipeline is not saturated")
    return busy_free["busy ms/s"].idxmax()
