"""User events from files: parsing with validation, malformed lines to a side output."""
from __future__ import annotations

from pathlib import Path

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.datastream import OutputTag, ProcessFunction
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat

from ..data import parse_event
from ..errors import MalformedEvent
from .common import throttled

# (reason, raw line): every malformed event is kept, with why it was rejected.
MALFORMED = OutputTag("malformed", Types.TUPLE([Types.STRING(), Types.STRING()]))


class ParseEvents(ProcessFunction):
    """JSON line -> UserEvent; a line that does not parse goes to MALFORMED, never crashes the job.

    ``checks`` are extra rules: each takes a parsed UserEvent and returns a reason to reject it,
    or None."""

    def __init__(self, checks=()):
        self.checks = tuple(checks)

    def process_element(self, line, ctx):
        try:
            event = parse_event(line)
        except MalformedEvent as bad:
            yield MALFORMED, (bad.reason, line)
            return
        for check in self.checks:
            reason = check(event)
            if reason:
                yield MALFORMED, (reason, line)
                return
        yield event


def line_source(env, path: Path, monitor_seconds: float | None = None, name: str = "events",
                parallelism: int | None = None):
    """Lines of the files under ``path``; with ``monitor_seconds``, keep watching for new files.
    Each file is read by one reader, so with one file and ``parallelism`` 2 one reader stays idle."""
    builder = FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(path))
    if monitor_seconds:
        builder = builder.monitor_continuously(Duration.of_millis(int(monitor_seconds * 1000)))
    lines = env.from_source(builder.build(), WatermarkStrategy.no_watermarks(), name)
    return lines.set_parallelism(parallelism) if parallelism else lines


def parse(lines, checks=(), rate: float | None = None):
    """(events, malformed) of a stream of JSON lines: UserEvents, paced to ``rate`` records/s if
    given, and (reason, line) pairs."""
    parsed = lines.process(ParseEvents(checks), output_type=Types.PICKLED_BYTE_ARRAY()).name("parse-events")
    events = throttled(parsed, rate, Types.PICKLED_BYTE_ARRAY()) if rate else parsed
    return events, parsed.get_side_output(MALFORMED)


def parsed_events(env, path: Path, monitor_seconds: float | None = None, source_parallelism: int | None = None,
                  rate: float | None = None):
    """(events, malformed): the parsed UserEvent stream, paced to ``rate`` records/s if given,
    and its side output of (reason, line)."""
    return parse(line_source(env, path, monitor_seconds, parallelism=source_parallelism), rate=rate)
