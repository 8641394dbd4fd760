"""Replayed user events counted by type, malformed lines counted by reason.

events dir (FileSource, monitored) -> ParseEvents -> count per event_type ─┐
                                         └ side output: count per reason ──┴> [kind, key, count] lines

Counts are emitted on every update, so the newest line per key is its running total.
"""
from __future__ import annotations

from pathlib import Path

from pyflink.common import Types

from .common import RunningCount, read_rows, text_sink
from .events import parsed_events


def build(env, *, events_dir: Path, output: Path, monitor_seconds: float | None = 0.5) -> None:
    events, malformed = parsed_events(env, events_dir, monitor_seconds)
    by_type = events.key_by(lambda e: e.event_type, key_type=Types.STRING()) \
        .process(RunningCount("type"), output_type=Types.STRING()).name("count-by-type")
    by_reason = malformed.key_by(lambda bad: bad[0], key_type=Types.STRING()) \
        .process(RunningCount("malformed"), output_type=Types.STRING()).name("count-malformed")
    by_type.union(by_reason).sink_to(text_sink(output)).name("results")


def read_totals(output: Path) -> dict[str, dict[str, int]]:
    """{"type": {event_type: count}, "malformed": {reason: count}} from the newest lines."""
    totals: dict[str, dict[str, int]] = {"type": {}, "malformed": {}}
    for kind, key, count in read_rows(output):
        totals[kind][key] = max(totals[kind].get(key, 0), count)
    return totals
