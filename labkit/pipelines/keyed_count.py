"""The lab's first stateful job: count records per key in keyed ValueState.

sequence source (JVM) -> key = n % keys (Python) -> CountPerKey (Python, ValueState)
-> final "key,count" lines into exactly-once text files.

Each key's count is emitted once, when the input ends (an event-time timer at the end of
time fires on the final watermark), so the output is small and exact: key k appears with
count ``expected_counts(records, keys)[k]``.
"""
from __future__ import annotations

import time
from pathlib import Path

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.state import ValueStateDescriptor

from .common import END_OF_TIME, read_lines, sequence_source, text_sink


class PoisonRecord(Exception):
    """Raised by :class:`CountPerKey` on its ``fail_at`` record, to demonstrate restarts."""


class CountPerKey(KeyedProcessFunction):
    """Counts per key; ``work_ms`` simulates per-record work (a slow lookup, a model call) and
    ``fail_at`` makes that record fail the task every time it is processed (a poison record)."""

    def __init__(self, work_ms: float = 0.0, fail_at: int | None = None):
        self.work_ms = work_ms
        self.fail_at = fail_at

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx):
        if value == self.fail_at:
            raise PoisonRecord(f"poison record {value}")
        if self.work_ms:
            time.sleep(self.work_ms / 1000)
        count = (self.count.value() or 0) + 1
        self.count.update(count)
        if count == 1:
            ctx.timer_service().register_event_time_timer(END_OF_TIME)
        return ()

    def on_timer(self, timestamp, ctx):
        yield f"{ctx.get_current_key()},{self.count.value()}"


def build(env, *, records: int, keys: int = 1000, output: Path, rate: int | None = None,
          parallelism: int | None = None, work_ms: float = 0.0, fail_at: int | None = None,
          bundle_ms: int = 100) -> None:
    if parallelism:
        env.set_parallelism(parallelism)
    numbers = sequence_source(env, records, rate, bundle_ms=bundle_ms)
    counted = numbers.key_by(lambda n: n % keys, key_type=Types.LONG()) \
        .process(CountPerKey(work_ms, fail_at), output_type=Types.STRING()).name("count-per-key")
    if fail_at is not None:
        # Seen in PyFlink 2.3: when a failing Python operator shares a slot with another Python
        # operator, the slot's shared Python runtime is sometimes released twice on the way down
        # (Beam: "Reference count must not be negative") and the whole TaskManager exits.
        counted = counted.slot_sharing_group("counting")
    counted.sink_to(text_sink(output)).name("results")


def sql_statements(keys: int) -> list[str]:
    """The JVM-only equivalent in Flink SQL: the same count per key, no Python anywhere."""
    return ["CREATE TEMPORARY TABLE counts (k BIGINT, c BIGINT) WITH ('connector' = 'blackhole')",
            f"INSERT INTO counts SELECT n % {keys} AS k, COUNT(*) AS c FROM numbers GROUP BY n % {keys}"]


def numbers_table(t_env, env, records: int):
    """The same JVM number source 0..records-1 as a Table with one BIGINT column, ``n``."""
    return t_env.from_data_stream(sequence_source(env, records)).alias("n")


def register_numbers(records: int):
    """``prepare`` hook for :func:`labkit.submit_sql`: :func:`numbers_table` as the view ``numbers``."""
    def prepare(t_env, env):
        t_env.create_temporary_view("numbers", numbers_table(t_env, env, records))
    return prepare


def expected_counts(records: int, keys: int) -> dict[int, int]:
    return {k: records // keys + (1 if k < records % keys else 0) for k in range(min(keys, records))}


def read_counts(output: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in read_lines(output):
        key, count = line.split(",")
        counts[int(key)] = max(counts.get(int(key), 0), int(count))
    return counts
