"""Chapter 02: state time-to-live, observed on the cluster.

Probe:     scripted commands, one every ``step_ms`` -> key_by(key) -> TtlProbe -> one line per read
Cleanup:   paced user activity, most users go quiet -> key_by(user) -> LastSeen (TTL'd)
Sessions:  the tutorial's TTL session example, with and without event timestamps

TTL in PyFlink 2.3 is measured in **processing time** only, and ``StateTtlConfig.new_builder``
takes ``pyflink.common.Time`` (a ``Duration`` builds, then fails when the job is compiled).
The TTL config itself, :func:`labkit.pipelines.common.ttl_config`, is shared with chapter 07.

In process mode, what a Python function sees of TTL depends on the worker's state cache: with
the default cache a value is served from the worker's memory long after it expired. A probe in
process mode therefore runs with ``python.state.cache-size: 0`` (every read asks the JVM, where TTL
lives) and one record per bundle (each command is processed when it arrives, not when a bundle
fills). Thread mode, the lab's default, has neither a cache nor bundles.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from pyflink.common import Configuration, Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from .common import as_line, read_rows, sequence_source, text_sink
from .events import parsed_events

# Python options that make TTL observable from a Python function (see the module docstring).
PROBE_CONFIG = {"python.state.cache-size": 0, "python.fn-execution.bundle.size": 1,
                "python.map-state.read-cache-size": 0, "python.map-state.write-cache-size": 0}


def ttl_value_state(runtime_context, name: str, ttl: StateTtlConfig):
    """A ValueState[str] that expires by ``ttl`` (call from a function's ``open``)."""
    descriptor = ValueStateDescriptor(name, Types.STRING())
    descriptor.enable_time_to_live(ttl)
    return runtime_context.get_state(descriptor)


# --- the probe ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    at_ms: int    # when, after the script starts
    action: str   # "write" or "read"
    key: str


def keep_alive_script(ttl_ms: int, step_ms: int = 250) -> list[Command]:
    """Two keys written at 0. ``reader`` is read every ``ttl/4`` until ``2.5 ttl``; ``idle`` is left
    alone. Both are read at ``2.5 ttl`` and ``2.5 ttl + 2 steps`` (a second read shows whether the
    first one cleaned an expired value up)."""
    every = max(step_ms, ttl_ms // 4 // step_ms * step_ms)
    final = (5 * ttl_ms // 2) // step_ms * step_ms + step_ms
    script = [Command(0, "write", "reader"), Command(0, "write", "idle")]
    script += [Command(t, "read", "reader") for t in range(every, final - step_ms, every)]
    for at in (final, final + 2 * step_ms):
        script += [Command(at, "read", "reader"), Command(at, "read", "idle")]
    return script


class TtlProbe(KeyedProcessFunction):
    """Executes the script's commands against one TTL'd ValueState per key and reports each read:
    ``["read", at ms, key, value or null]``."""

    def __init__(self, ttl: StateTtlConfig):
        self.ttl = ttl

    def open(self, runtime_context):
        self.value = ttl_value_state(runtime_context, "value", self.ttl)

    def process_element(self, command, ctx):
        at_ms, action, _ = command
        if action == "write":
            self.value.update(f"written at {at_ms} ms")
        elif action == "read":
            yield as_line("read", at_ms, ctx.get_current_key(), self.value.value())


def build_probe(env, *, script: list[Command], ttl: StateTtlConfig, output: Path, step_ms: int = 250,
                warmup_ms: int = 4_000, state_cache: int = 0) -> None:
    """Plays ``script`` in processing time, one slot every ``step_ms`` after ``warmup_ms`` (so the
    Python worker is up before the first command). Commands sharing a slot run in script order.
    ``state_cache`` > 0 turns the Python state cache back on, to see what it hides."""
    env.set_parallelism(1)
    slots: dict[int, list[Command]] = {}
    for command in script:
        slots.setdefault(warmup_ms // step_ms + command.at_ms // step_ms, []).append(command)
    per_slot = max(len(commands) for commands in slots.values())
    plan = {slot * per_slot + i: (c.at_ms, c.action, c.key)
            for slot, commands in slots.items() for i, c in enumerate(commands)}
    ticks = (max(slots) + 1) * per_slot
    sequence_source(env, ticks, rate=per_slot * 1000 / step_ms, bundle_ms=step_ms) \
        .filter(lambda n: n in plan) \
        .map(lambda n: plan[n], output_type=Types.TUPLE([Types.INT(), Types.STRING(), Types.STRING()])) \
        .key_by(lambda c: c[2], key_type=Types.STRING()) \
        .process(TtlProbe(ttl), output_type=Types.STRING()).name("ttl-probe") \
        .sink_to(text_sink(output)).name("reads")
    probe_options = Configuration()
    for key, value in PROBE_CONFIG.items():  # after sequence_source, which sizes bundles for pacing
        probe_options.set_string(key, str(state_cache if "cache" in key else value))
    env.configure(probe_options)


def read_probe(output: Path) -> dict[tuple[int, str], str | None]:
    """``{(at ms, key): value read, None if nothing}``"""
    return {(at_ms, key): value for _, at_ms, key, value in read_rows(output)}


# --- cleanup: most users fall silent --------------------------------------------------------
class LastSeen(KeyedProcessFunction):
    """Keeps each user's latest activity, a ``record_chars`` long record, in TTL'd state."""

    def __init__(self, ttl: StateTtlConfig, record_chars: int):
        self.ttl = ttl
        self.record_chars = record_chars

    def open(self, runtime_context):
        self.last_seen = ttl_value_state(runtime_context, "last-seen", self.ttl)

    def process_element(self, n, ctx):
        # random hex: RocksDB's compression cannot shrink it, so every backend stores its real size
        self.last_seen.update(random.Random(n).randbytes(self.record_chars // 2).hex())
        return ()


def build_going_quiet(env, *, users: int, rate: float, quiet_after: int, ttl: StateTtlConfig, output: Path,
                      active_every: int = 10, record_chars: int = 1_000, records: int = 100_000_000) -> None:
    """Event ``n`` comes from user ``n % users``; after ``quiet_after`` events only every
    ``active_every``-th user goes on. The others' state should expire one TTL later, leaving about
    ``1 / active_every`` of ``users * record_chars``."""
    env.set_parallelism(1)
    sequence_source(env, records, rate) \
        .filter(lambda n: n < quiet_after or n % users % active_every == 0) \
        .key_by(lambda n: n % users, key_type=Types.LONG()) \
        .process(LastSeen(ttl, record_chars), output_type=Types.STRING()).name("last-seen") \
        .sink_to(text_sink(output)).name("nothing")


# --- the tutorial's session example -----------------------------------------------------------
class TtlSession(KeyedProcessFunction):
    """The tutorial's TTLStateExample: a session id per user in TTL'd state, named after the
    timestamp of the event that opened it. Without event timestamps ``ctx.timestamp()`` is
    Long.MIN_VALUE in PyFlink 2.3, so every session gets the same name."""

    def __init__(self, ttl: StateTtlConfig):
        self.ttl = ttl

    def open(self, runtime_context):
        self.session = ttl_value_state(runtime_context, "user_session", self.ttl)

    def process_element(self, event, ctx):
        session = self.session.value()
        if session is None:
            session = f"session_{ctx.timestamp()}"
            self.session.update(session)
            yield as_line("new", event.user_id, session)


def build_sessions(env, *, events_file: Path, output: Path, ttl: StateTtlConfig, watermark_strategy=None) -> None:
    """Sessions opened per user; with ``watermark_strategy`` None the events carry no timestamps,
    as in the tutorial."""
    env.set_parallelism(1)
    events, _ = parsed_events(env, events_file, source_parallelism=1)
    if watermark_strategy is not None:
        events = events.assign_timestamps_and_watermarks(watermark_strategy)
    events.key_by(lambda e: e.user_id, key_type=Types.STRING()) \
        .process(TtlSession(ttl), output_type=Types.STRING()).name("sessions") \
        .sink_to(text_sink(output)).name("new-sessions")


def read_new_sessions(output: Path) -> dict[str, str]:
    """``{user: session id}`` of the sessions opened."""
    return {user: session for _, user, session in read_rows(output)}

