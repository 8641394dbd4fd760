"""Chapter 01: keyed state of every type, on each state backend, and buffering the keyed way.

Growing state:  sequence -> key = n % keys -> KeyProfile -> one "profile" line per key at the end
Buffering:      sequence (paced) -> key = n % keys -> BufferPerKey -> "batch" lines of values

:class:`KeyProfile` uses each keyed state type where it fits and keeps every value it saw, so
its state grows with the input (what makes backends and checkpoint kinds differ).
:class:`BufferPerKey` is what the tutorial's ``CheckpointedFunction`` examples wanted: PyFlink
has no operator state, so the buffer lives in keyed ListState and is flushed on a count or a
processing-time timer; checkpoints restore it exactly.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.functions import AggregateFunction
from pyflink.datastream.state import (
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    ValueStateDescriptor,
)
from pyflink.datastream.time_domain import TimeDomain

from .common import END_OF_TIME, read_lines, sequence_source, text_sink

# What selects a backend and a checkpoint kind in Flink 2.x: configuration keys (the tutorial's
# MemoryStateBackend/FsStateBackend/RocksDBStateBackend objects and env.set_state_backend are gone).
BACKENDS: dict[str, dict] = {
    "hashmap": {"state.backend.type": "hashmap"},
    "rocksdb full": {"state.backend.type": "rocksdb", "execution.checkpointing.incremental": False},
    "rocksdb incremental": {"state.backend.type": "rocksdb", "execution.checkpointing.incremental": True},
}


class Mean(AggregateFunction):
    """Running mean: the accumulator is (sum, count), the result a float."""

    def create_accumulator(self):
        return 0, 0

    def add(self, value, accumulator):
        return accumulator[0] + value, accumulator[1] + 1

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1] if accumulator[1] else 0.0

    def merge(self, a, b):
        return a[0] + b[0], a[1] + b[1]


class KeyProfile(KeyedProcessFunction):
    """Everything about one key's values, each kept in the state type made for it:

    ValueState      how many values (read, add one, write back)
    ReducingState   the largest value (Flink folds each new value in with ``max``)
    AggregatingState the mean (accumulator (sum, count), result computed on read)
    MapState        how many values end in each digit (one entry per digit, updated in place)
    ListState       every value, in order (appends never read the list back)

    With ``document_chars`` each key also gets a ValueState document of that many characters,
    written once when the key first appears: the big, rarely changing part of real state (a user
    profile, a model) next to small values updated on every record. That mix is what makes
    incremental checkpoints pay off.
    """

    def __init__(self, document_chars: int = 0):
        self.document_chars = document_chars

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))
        self.largest = runtime_context.get_reducing_state(
            ReducingStateDescriptor("largest", max, Types.LONG()))
        self.mean = runtime_context.get_aggregating_state(
            AggregatingStateDescriptor("mean", Mean(), Types.TUPLE([Types.LONG(), Types.LONG()])))
        self.by_digit = runtime_context.get_map_state(MapStateDescriptor("by-last-digit", Types.INT(), Types.LONG()))
        self.values = runtime_context.get_list_state(ListStateDescriptor("values", Types.LONG()))
        self.document = runtime_context.get_state(ValueStateDescriptor("document", Types.STRING()))

    def process_element(self, value, ctx):
        count = (self.count.value() or 0) + 1
        if count == 1 and self.document_chars:
            # random hex: no compression shrinks it, so checkpoints carry its real size
            noise = random.Random(value).randbytes(self.document_chars // 2 + 1)
            self.document.update(noise.hex()[:self.document_chars])
        self.count.update(count)
        self.largest.add(value)
        self.mean.add(value)
        digit = value % 10
        self.by_digit.put(digit, (self.by_digit.get(digit) or 0) + 1)
        self.values.add(value)
        if count == 1:
            ctx.timer_service().register_event_time_timer(END_OF_TIME)
        return ()

    def on_timer(self, timestamp, ctx):
        digits = {str(d): n for d, n in sorted(self.by_digit.items())}
        yield (f"{ctx.get_current_key()}|{self.count.value()}|{self.largest.get()}|{self.mean.get():.3f}|"
               f"{len(list(self.values.get()))}|{json.dumps(digits)}")


def keyed_numbers(env, records: int, keys: int, rate: float | None, parallelism: int | None):
    """The ints 0..records-1 keyed by ``n % keys``, the input of both pipelines."""
    if parallelism:
        env.set_parallelism(parallelism)
    return sequence_source(env, records, rate).key_by(lambda n: n % keys, key_type=Types.LONG())


def build_profiles(env, *, records: int, keys: int, output: Path, rate: float | None = None,
                   parallelism: int | None = 1, document_chars: int = 0) -> None:
    keyed_numbers(env, records, keys, rate, parallelism) \
        .process(KeyProfile(document_chars), output_type=Types.STRING()).name("key-profile") \
        .sink_to(text_sink(output)).name("profiles")


def reference_profiles(records: int, keys: int) -> dict[int, tuple]:
    """What :class:`KeyProfile` must report for each key, computed in plain Python."""
    values: dict[int, list[int]] = {}
    for n in range(records):
        values.setdefault(n % keys, []).append(n)
    return {key: (len(vs), max(vs), f"{sum(vs) / len(vs):.3f}", len(vs),
                  {str(d): c for d, c in sorted(Counter(v % 10 for v in vs).items())})
            for key, vs in values.items()}


def read_profiles(output: Path) -> dict[int, tuple]:
    profiles = {}
    for line in read_lines(output):
        key, count, largest, mean, kept, digits = line.split("|")
        profiles[int(key)] = (int(count), int(largest), mean, int(kept), json.loads(digits))
    return profiles


class BufferPerKey(KeyedProcessFunction):
    """Collects each key's values in ListState and emits them as one batch when ``batch_size``
    have arrived, or ``flush_ms`` of processing time after the first one, or when the input ends.

    The tutorial buffers in an instance field and snapshots it through CheckpointedFunction
    (Java only); an instance field is shared by every key of the subtask and lost on failure.
    Keyed state is neither: Flink checkpoints it and hands it back after a restart.
    """

    def __init__(self, batch_size: int, flush_ms: int):
        self.batch_size = batch_size
        self.flush_ms = flush_ms

    def open(self, runtime_context):
        self.buffer = runtime_context.get_list_state(ListStateDescriptor("buffer", Types.LONG()))
        self.size = runtime_context.get_state(ValueStateDescriptor("size", Types.INT()))
        self.deadline = runtime_context.get_state(ValueStateDescriptor("deadline", Types.LONG()))

    def process_element(self, value, ctx):
        self.buffer.add(value)
        size = (self.size.value() or 0) + 1
        if size >= self.batch_size:
            yield from self._flush(ctx, "count")
            return
        self.size.update(size)
        if size == 1:
            # Flink keeps one timer per key and timestamp, so the end-of-input timer is set once.
            ctx.timer_service().register_event_time_timer(END_OF_TIME)
            deadline = ctx.timer_service().current_processing_time() + self.flush_ms
            ctx.timer_service().register_processing_time_timer(deadline)
            self.deadline.update(deadline)

    def on_timer(self, timestamp, ctx):
        if ctx.time_domain() == TimeDomain.EVENT_TIME:
            yield from self._flush(ctx, "end")
        elif timestamp == self.deadline.value():  # else: the batch it was set for already left by count
            yield from self._flush(ctx, "timer")

    def _flush(self, ctx, reason: str):
        values = list(self.buffer.get() or [])
        deadline = self.deadline.value()
        if deadline is not None:
            ctx.timer_service().delete_processing_time_timer(deadline)
        self.buffer.clear()
        self.size.clear()
        self.deadline.clear()
        if values:
            yield f"batch|{ctx.get_current_key()}|{reason}|{' '.join(map(str, values))}"


def build_batches(env, *, records: int, keys: int, output: Path, rate: float, batch_size: int = 50,
                  flush_ms: int = 1000, parallelism: int | None = None) -> None:
    keyed_numbers(env, records, keys, rate, parallelism) \
        .process(BufferPerKey(batch_size, flush_ms), output_type=Types.STRING()).name("buffer-per-key") \
        .sink_to(text_sink(output)).name("batches")


def read_batches(output: Path) -> list[tuple[int, str, list[int]]]:
    """``[(key, reason, values)]`` for every committed batch."""
    batches = []
    for line in read_lines(output):
        _, key, reason, values = line.split("|")
        batches.append((int(key), reason, [int(v) for v in values.split()]))
    return batches


def batch_audit(batches: list[tuple[int, str, list[int]]], records: int, keys: int) -> dict:
    """Lost, duplicated and misplaced values, and which rule flushed how many batches."""
    seen = Counter(v for _, _, values in batches for v in values)
    return {"batches": len(batches), "values": sum(seen.values()),
            "lost": sum(1 for n in range(records) if n not in seen),
            "duplicated": sum(c - 1 for c in seen.values() if c > 1),
            "wrong key": sum(1 for key, _, values in batches for v in values if v % keys != key),
            "flushed by": dict(Counter(reason for _, reason, _ in batches))}
