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

from .common import read_lines, sequence_source, text_sink

END_OF_TIME = 2**63 - 1


class CountPerKey(KeyedProcessFunction):
    """Counts per key; ``work_ms`` simulates per-record work (a slow lookup, a model call)."""

    def __init__(self, work_ms: float = 0.0):
        self.work_ms = work_ms

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx):
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
          parallelism: int | None = None, work_ms: float = 0.0) -> None:
    if parallelism:
        env.set_parallelism(parallelism)
    numbers = sequence_source(env, records, rate)
    numbers.key_by(lambda n: n % keys, key_type=Types.LONG()) \
        .process(CountPerKey(work_ms), output_type=Types.STRING()).name("count-per-key") \
        .sink_to(text_sink(output)).name("results")


def sql_statements(keys: int) -> list[str]:
    """The JVM-only equivalent in Flink SQL: the same count per key, no Python anywhere."""
    return ["CREATE TEMPORARY TABLE counts (k BIGINT, c BIGINT) WITH ('connector' = 'blackhole')",
            f"INSERT INTO counts SELECT n % {keys} AS k, COUNT(*) AS c FROM numbers GROUP BY n % {keys}"]


def register_numbers(records: int):
    """``prepare`` hook for :func:`labkit.submit_sql`: the same JVM number source as a table."""
    def prepare(t_env, env):
        numbers = sequence_source(env, records)
        t_env.create_temporary_view("numbers", t_env.from_data_stream(numbers).alias("n"))
    return prepare


def expected_counts(records: int, keys: int) -> dict[int, int]:
    return {k: records // keys + (1 if k < records % keys else 0) for k in range(min(keys, records))}


def read_counts(output: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in read_lines(output):
        key, count = line.split(",")
        counts[int(key)] = max(counts.get(int(key), 0), int(count))
    return counts
