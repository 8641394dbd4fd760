"""Chapters 05 and 06's measuring pipelines: an end-to-end latency probe, and a three-stage pipeline
with one slow stage for finding bottlenecks from backpressure metrics (the runs that measure them
are :mod:`labkit.experiments`).

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

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, MapFunction
from pyflink.datastream.state import ValueStateDescriptor

from ..errors import UnknownChoice
from . import keyed_count as kc
from .common import read_lines, sequence_source, text_sink

STAGES = ("parse", "enrich", "score")


class TimedCount(KeyedProcessFunction):
    """Counts per key in ValueState and passes each record's creation time (epoch ms) on."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, row, ctx):
        self.count.update((self.count.value() or 0) + 1)
        yield Row(row[1])


def build_latency_probe(env, *, rate: int, records: int, keys: int, output: Path) -> None:
    """``records`` rows at ``rate`` per second (in total), each timed from creation to its
    return from Python."""
    from pyflink.table import StreamTableEnvironment

    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    # CURRENT_ROW_TIMESTAMP() is evaluated per row, in the JVM task that computes it. Its epoch ms
    # go to Python as a BIGINT: thread mode hands a TIMESTAMP over as a Java object.
    t_env.execute_sql(
        "CREATE TEMPORARY TABLE ticks (k INT, created AS CURRENT_ROW_TIMESTAMP()) WITH ("
        f"'connector' = 'datagen', 'rows-per-second' = '{rate}', 'number-of-rows' = '{records}', "
        f"'fields.k.min' = '0', 'fields.k.max' = '{keys - 1}')")
    ticks = t_env.to_data_stream(t_env.sql_query(
        "SELECT k, UNIX_TIMESTAMP(CAST(created AS STRING)) * 1000 + EXTRACT(MILLISECOND FROM created) FROM ticks"))
    counted = ticks.key_by(lambda row: row[0], key_type=Types.INT()) \
        .process(TimedCount(), output_type=Types.ROW_NAMED(["created_ms"], [Types.LONG()])).name("timed-count")
    t_env.create_temporary_view("counted", t_env.from_data_stream(counted))
    arrived = t_env.sql_query("SELECT created_ms, CAST(CURRENT_ROW_TIMESTAMP() AS STRING) AS arrived FROM counted")
    t_env.to_data_stream(arrived).sink_to(text_sink(output)).name("latencies")


def read_latencies(output: Path):
    """Every record's creation time (s since the first) and creation-to-return latency in ms (a DataFrame)."""
    import pandas as pd  # here, not at the top: the Python workers import this module and never read results

    # the sink writes Flink rows as "+I[created_ms, arrived]"
    fields = [line.strip("+I[]").split(", ") for line in read_lines(output)]
    created = pd.Series([int(c) for c, _ in fields], dtype="int64")
    arrived = pd.to_datetime([a for _, a in fields], utc=True).as_unit("ms").asi8
    frame = pd.DataFrame({"created_s": (created - created.min()) / 1000, "latency_ms": arrived - created})
    return frame.sort_values("created_s").reset_index(drop=True)


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
    its own trip out of and back into the JVM); chained, the three run as one Python operator."""
    unknown = set(work_ms) - set(STAGES)
    if unknown:
        raise UnknownChoice(f"unknown stages {sorted(unknown)}: the stages are {STAGES}")
    stream = sequence_source(env, records)
    for stage in STAGES:
        stream = stream.map(Stage(work_ms.get(stage, 0.0)), output_type=Types.LONG()).name(stage)
        if not chained:
            stream = stream.disable_chaining()
    stream.key_by(lambda n: n % 10, key_type=Types.LONG()) \
        .process(kc.CountPerKey(), output_type=Types.STRING()).name("count-per-key") \
        .sink_to(text_sink(output)).name("results")
