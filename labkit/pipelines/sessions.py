"""Chapter 04: the tutorial's session-timeout state manager, as it was meant and done right.

events file -> parse -> [throttle] -> timestamps/watermarks -> key_by(user) -> session function
-> ["session", user, first event ms, last event ms, events] lines

The tutorial registers one event-time timer when a session starts and ends the session when it
fires: a user who keeps clicking is logged out ``timeout`` after the first click.
:class:`SessionTimeout` keeps the deadline in state, moves the timer on every event (deleting
the old one) and ignores a timer that is not the current deadline.
"""
from __future__ import annotations

from pathlib import Path

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.state import ValueStateDescriptor

from ..data import START_MS, UserEvent, item_category
from .common import as_line, keep_watermarks_fresh, read_rows, text_sink, watermarks
from .events import parsed_events


class TutorialSessionTimeout(KeyedProcessFunction):
    """The tutorial's logic on the working API: the timer is set once, at the session's start."""

    def __init__(self, timeout_ms: int):
        self.timeout_ms = timeout_ms

    def open(self, runtime_context):
        self.session = runtime_context.get_state(ValueStateDescriptor("session", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, event, ctx):
        session = self.session.value()
        if session is None:
            session = [event.timestamp, event.timestamp, 0]
            ctx.timer_service().register_event_time_timer(event.timestamp + self.timeout_ms)
        session[1] = max(session[1], event.timestamp)
        session[2] += 1
        self.session.update(session)

    def on_timer(self, timestamp, ctx):
        first, last, events = self.session.value()
        self.session.clear()
        yield as_line("session", ctx.get_current_key(), first, last, events)


class SessionTimeout(KeyedProcessFunction):
    """A session ends ``timeout_ms`` of event time after the user's latest event."""

    def __init__(self, timeout_ms: int):
        self.timeout_ms = timeout_ms

    def open(self, runtime_context):
        self.session = runtime_context.get_state(ValueStateDescriptor("session", Types.PICKLED_BYTE_ARRAY()))
        self.deadline = runtime_context.get_state(ValueStateDescriptor("deadline", Types.LONG()))

    def process_element(self, event, ctx):
        session = self.session.value() or [event.timestamp, event.timestamp, 0]
        session[0] = min(session[0], event.timestamp)
        session[1] = max(session[1], event.timestamp)
        session[2] += 1
        self.session.update(session)
        deadline = session[1] + self.timeout_ms
        previous = self.deadline.value()
        if previous != deadline:
            if previous is not None:
                ctx.timer_service().delete_event_time_timer(previous)
            ctx.timer_service().register_event_time_timer(deadline)
            self.deadline.update(deadline)

    def on_timer(self, timestamp, ctx):
        if timestamp != self.deadline.value():
            return  # a timer from before the user's latest activity
        first, last, events = self.session.value()
        self.session.clear()
        self.deadline.clear()
        yield as_line("session", ctx.get_current_key(), first, last, events)


def build(env, *, events_file: Path, output: Path, timeout_ms: int, function=SessionTimeout,
          bound_ms: int = 0, rate: float | None = None, parallelism: int = 1) -> None:
    """Sessions of the events in ``events_file`` by ``function`` (a class taking ``timeout_ms``).

    At parallelism 1 the events reach the function in file order; at 2 the parse step's two
    subtasks interleave them, so a user's events can arrive out of order (within the bound)."""
    env.set_parallelism(parallelism)
    keep_watermarks_fresh(env, rate)
    events, _ = parsed_events(env, events_file, source_parallelism=1, rate=rate)
    events.assign_timestamps_and_watermarks(watermarks(bound_ms)) \
        .key_by(lambda e: e.user_id, key_type=Types.STRING()) \
        .process(function(timeout_ms), output_type=Types.STRING()).name("sessions") \
        .sink_to(text_sink(output)).name("results")


def read_sessions(output: Path) -> set[tuple[str, int, int, int]]:
    """{(user, first ms, last ms, events)}"""
    return {(user, first, last, events) for _, user, first, last, events in read_rows(output)}


def busy_and_idle_users(minutes: int = 5, clock_every_ms: int = 200) -> list[UserEvent]:
    """A small, ordered scenario: ``busy`` clicks every 25 s for ``minutes``; ``idle`` clicks
    twice, pauses 2 min 20 s, clicks again; ``clock`` (everyone else) keeps event time moving."""
    def event(user, at_ms, item="i0001"):
        return UserEvent(user, item, "view", START_MS + at_ms, f"{user}-s0", {"category": item_category(item)})
    timeline = [event("clock", t, "i0000") for t in range(0, minutes * 60_000 + 1, clock_every_ms)]
    timeline += [event("busy", t) for t in range(1_000, minutes * 60_000 - 30_000, 25_000)]
    timeline += [event("idle", t) for t in (2_000, 12_000, 152_000)]
    return sorted(timeline, key=lambda e: e.timestamp)


def reference_sessions(events: list[UserEvent], timeout_ms: int) -> set[tuple[str, int, int, int]]:
    """Sessions by event-time gaps (in-order events): a gap longer than ``timeout_ms`` ends one."""
    sessions, open_ = set(), {}
    for event in sorted(events, key=lambda e: e.timestamp):
        current = open_.get(event.user_id)
        if current and event.timestamp - current[1] > timeout_ms:
            sessions.add((event.user_id, *current))
            current = None
        current = [current[0], event.timestamp, current[2] + 1] if current else [event.timestamp, event.timestamp, 1]
        open_[event.user_id] = current
    return sessions | {(user, *s) for user, s in open_.items()}
