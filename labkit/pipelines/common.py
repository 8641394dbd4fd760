"""What several of the lab's pipelines share, in one home: sources and sinks, the end of input,
output lines that carry text, event time and watermarks, state TTL, a running count. Each piece
says which chapter introduces it; a pipeline module imports these from here, never from another
chapter's module.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from pyflink.common import Configuration, Duration, Encoder, Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import KeyedProcessFunction, MapFunction
from pyflink.datastream.connectors.file_system import FileSink, OutputFileConfig, RollingPolicy
from pyflink.datastream.connectors.number_seq import NumberSequenceSource
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from ..errors import LabError

# --- the end of input (chapter 00) ---------------------------------------------------------------
# An event-time timer set here fires only on the final watermark, which a bounded source emits
# when it ends.
END_OF_TIME = 2**63 - 1


# --- sources and sinks (chapter 00) --------------------------------------------------------------
class Throttle(MapFunction):
    """Passes records on at ``rate`` per second in total, shared evenly by its ``parallelism``
    subtasks. (Given, not asked of the runtime context: in thread mode PyFlink 2.3's
    ``get_number_of_parallel_subtasks()`` fails.)"""

    def __init__(self, rate: float, parallelism: int):
        self.per_subtask = rate / parallelism

    def open(self, runtime_context):
        self.started = None
        self.passed = 0

    def map(self, value):
        if self.started is None:
            self.started = time.monotonic()
        self.passed += 1
        ahead = self.started + self.passed / self.per_subtask - time.monotonic()
        if ahead > 0.002:
            time.sleep(ahead)
        return value


def throttled(stream, rate: float, output_type):
    """``stream`` passed on at ``rate`` records/s in total, by a :class:`Throttle` at the
    environment's parallelism."""
    parallelism = stream.get_execution_environment().get_parallelism()
    return stream.map(Throttle(rate, parallelism), output_type=output_type).name("throttle")


def cap_python_bundles(env, rate: float, bundle_ms: int = 100) -> None:
    """Python bundles of about ``bundle_ms`` of input at ``rate`` records/s, for a job in process
    mode: checkpoint barriers and watermarks wait for the bundle in flight, so paced jobs keep it
    short. (No effect in thread mode, which has no bundles.)"""
    env.configure(Configuration().set_integer("python.fn-execution.bundle.size", max(10, int(rate * bundle_ms / 1000))))


def sequence_source(env, count: int, rate: float | None = None, name: str = "sequence", bundle_ms: int = 100):
    """The ints 0..count-1 from Flink's NumberSequenceSource (JVM, checkpointed as ranges, so
    a restored job continues exactly where it stopped).

    ``rate`` paces it to that many records per second, so live demos last long enough to
    watch. The pacing runs in the Python operator that also computes the keys (chained, so it
    costs no extra hop). In process mode the job's Python bundles are capped at ~100 ms of
    input: a checkpoint barrier waits for the current bundle, and a large bundle of paced records
    would hold every checkpoint up for seconds (``bundle_ms`` raises the cap to show exactly
    that); thread mode has no bundles. (Flink's datagen connector can throttle in the JVM, but
    its sequence generator checkpoints every remaining value, which overflows the heap for long
    sequences.)
    """
    numbers = env.from_source(NumberSequenceSource(0, count - 1), WatermarkStrategy.no_watermarks(), name)
    if not rate:
        return numbers
    cap_python_bundles(env, rate, bundle_ms)
    return throttled(numbers, rate, Types.LONG())


def text_sink(path: Path) -> FileSink:
    """Exactly-once text files: part files roll at every checkpoint and become visible when it
    completes (or at the end of a bounded job), so a restarted job never leaves duplicates
    behind. (The row-format default rolls only after 60 s, which hides results that long.)"""
    return FileSink.for_row_format(str(path), Encoder.simple_string_encoder()) \
        .with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy()) \
        .with_output_file_config(OutputFileConfig.builder().with_part_prefix("part").build()).build()


def read_lines(path: Path) -> list[str]:
    """All committed lines under ``path`` (in-progress files start with '.' and are skipped)."""
    lines = []
    for part in sorted(Path(path).rglob("part*")):
        if part.is_file() and not part.name.startswith("."):
            lines += [line for line in part.read_text().splitlines() if line]
    return lines


# --- lines that carry text (chapter 02's TTL probe first; every job whose lines hold ids) ---------
def as_line(*fields) -> str:
    """``fields`` as one output line: a JSON array. An id is whatever its producer sent, commas,
    quotes, line breaks and any script included; JSON quotes each string and escapes every
    character beyond ASCII, so no field can split its line or run into the next field."""
    return json.dumps(fields)


def read_rows(path: Path) -> list[list]:
    """The fields of every committed :func:`as_line` line under ``path``, as they were written."""
    return [json.loads(line) for line in read_lines(path)]


# --- event time (chapter 04; chapter 02's sessions use it first) ---------------------------------
class EventTimestamp(TimestampAssigner):
    """The event's own time (epoch ms) becomes the record's timestamp."""

    def extract_timestamp(self, value, record_timestamp):
        return value.timestamp


def watermarks(bound_ms: int, idleness_ms: int | None = None) -> WatermarkStrategy:
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(bound_ms))  # bounds take Duration
    if idleness_ms:
        strategy = strategy.with_idleness(Duration.of_millis(idleness_ms))
    return strategy.with_timestamp_assigner(EventTimestamp())


def keep_watermarks_fresh(env, rate: float | None = None) -> None:
    """Frequent watermarks, and small Python bundles in process mode. A watermark waits for the
    next periodic emission (200 ms by default) and, in process mode, behind the Python bundle in
    flight; at thousands of records per second either would hold it back by minutes of event time."""
    cap_python_bundles(env, rate or 1_000)
    env.configure(Configuration().set_string("pipeline.auto-watermark-interval", "20ms"))


# --- state TTL (chapter 02; chapter 07's profiles expire by it) ----------------------------------
UPDATE_TYPES = {"OnCreateAndWrite": StateTtlConfig.UpdateType.OnCreateAndWrite,
                "OnReadAndWrite": StateTtlConfig.UpdateType.OnReadAndWrite}
VISIBILITIES = {"NeverReturnExpired": StateTtlConfig.StateVisibility.NeverReturnExpired,
                "ReturnExpiredIfNotCleanedUp": StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp}


def ttl_config(ttl_ms: int, update: str = "OnCreateAndWrite", visibility: str = "NeverReturnExpired",
               cleanup: str = "none") -> StateTtlConfig:
    """A TTL config by names. ``cleanup``: ``none`` (expired values stay until read), ``full
    snapshot`` (left out of full checkpoints), ``incremental`` (heap: a few entries checked on every
    access) or ``compaction`` (RocksDB: dropped when files are compacted)."""
    if update not in UPDATE_TYPES or visibility not in VISIBILITIES:
        raise LabError(f"unknown TTL setting {update!r}/{visibility!r}",
                       hint=f"update: {sorted(UPDATE_TYPES)}; visibility: {sorted(VISIBILITIES)}")
    builder = StateTtlConfig.new_builder(Time.milliseconds(ttl_ms)) \
        .set_update_type(UPDATE_TYPES[update]).set_state_visibility(VISIBILITIES[visibility])
    if cleanup == "none":
        builder = builder.disable_cleanup_in_background()
    elif cleanup == "full snapshot":
        builder = builder.disable_cleanup_in_background().cleanup_full_snapshot()
    elif cleanup == "incremental":
        builder = builder.cleanup_incrementally(50, False)
    elif cleanup == "compaction":
        builder = builder.cleanup_in_rocksdb_compact_filter(100)
    else:
        raise LabError(f"unknown TTL cleanup {cleanup!r}", hint="none, full snapshot, incremental or compaction")
    return builder.build()


# --- counting (chapter 07's malformed lines, and the replay tests' event counts) -----------------
class RunningCount(KeyedProcessFunction):
    """Counts per key and emits ``[kind, key, count]`` on every record: the newest line per key is its total."""

    def __init__(self, kind: str):
        self.kind = kind

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx):
        count = (self.count.value() or 0) + 1
        self.count.update(count)
        yield as_line(self.kind, ctx.get_current_key(), count)
