"""Sources and sinks shared by the lab's pipelines."""
from __future__ import annotations

import time
from pathlib import Path

from pyflink.common import Configuration, Encoder, Types, WatermarkStrategy
from pyflink.datastream import MapFunction
from pyflink.datastream.connectors.file_system import FileSink, OutputFileConfig, RollingPolicy
from pyflink.datastream.connectors.number_seq import NumberSequenceSource


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
