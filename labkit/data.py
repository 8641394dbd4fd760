"""Seeded generators for the lab's event streams, and a replay that feeds a running job.

Events follow the seed tutorial's ``UserEvent`` (user_id, item_id, event_type, timestamp,
session_id, metadata) with the timestamp in **epoch milliseconds**. Everything derived from an
id uses :func:`stable_hash` (CRC32): Python's ``hash()`` of a string differs between
processes, so Flink's Python workers would disagree about it.
"""
from __future__ import annotations

import bisect
import functools
import json
import random
import threading
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import LabError, MalformedEvent

EVENT_TYPES = ("view", "click", "like", "purchase")
FUNNEL_WEIGHTS = (0.70, 0.20, 0.07, 0.03)
CATEGORIES = ("books", "music", "games", "garden", "kitchen", "sports", "toys", "travel")
START_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z: a fixed origin keeps runs reproducible
SESSION_GAP_MS = 30 * 60 * 1000


def stable_hash(text: str) -> int:
    """A hash that is the same in every process and every run (unlike ``hash()``)."""
    return zlib.crc32(text.encode("utf-8"))


@functools.lru_cache(maxsize=65_536)
def item_category(item_id: str) -> str:
    return CATEGORIES[stable_hash(item_id) % len(CATEGORIES)]


@dataclass(frozen=True)
class UserEvent:
    user_id: str
    item_id: str
    event_type: str
    timestamp: int  # epoch ms
    session_id: str
    metadata: dict = field(default_factory=dict, hash=False, compare=True)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)


_FIELDS = {"user_id": str, "item_id": str, "event_type": str, "timestamp": int, "session_id": str}


# The latest event time the lab accepts: the end of year 9999 (Java's Instant and date formats end
# there, and anything later overflows event-time arithmetic in the JVM, which holds 64-bit ms).
MAX_TIMESTAMP_MS = 253_402_300_799_999


def key_and_time(line: str) -> tuple[str | None, int | None]:
    """A producer's Kafka key and record timestamp for ``line``: its user (Kafka keeps one key's
    records in one partition, in order) and its event time in ms; (None, None) for a line that is
    not a valid event (any partition, stamped when written)."""
    try:
        event = parse_event(line)
    except MalformedEvent:
        return None, None
    return event.user_id, event.timestamp


def parse_event(line: str) -> UserEvent:
    """Parse and validate one JSON line; raise :class:`MalformedEvent` with a reason tag.

    Whatever the line holds, the result is an event the job can carry (text that encodes as
    UTF-8, a timestamp the JVM can hold) or a :class:`MalformedEvent`: nothing else is raised.
    An id may be any such text, commas, quotes and line breaks included: the jobs' outputs quote it
    (:func:`labkit.pipelines.common.as_line`).
    """
    try:
        data = json.loads(line)
    except (ValueError, TypeError, RecursionError):  # RecursionError: brackets nested thousands deep
        raise MalformedEvent("not-json", str(line)) from None
    if not isinstance(data, dict):
        raise MalformedEvent("not-an-object", line)
    for name, kind in _FIELDS.items():
        if name not in data:
            raise MalformedEvent(f"missing-{name}", line)
        value = data[name]
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and not _encodable(value)):
            raise MalformedEvent(f"bad-{name}", line)
    if data["event_type"] not in EVENT_TYPES:
        raise MalformedEvent("unknown-event_type", line)
    if data["timestamp"] < 10**12:  # seconds instead of ms: the seed's unit bug
        raise MalformedEvent("timestamp-not-ms", line)
    if data["timestamp"] > MAX_TIMESTAMP_MS:
        raise MalformedEvent("timestamp-out-of-range", line)
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict) or not _plain_seq(metadata.get("seq", 0)):
        raise MalformedEvent("bad-metadata", line)
    return UserEvent(data["user_id"], data["item_id"], data["event_type"], data["timestamp"],
                     data["session_id"], metadata)


def _encodable(text: str) -> bool:
    """JSON escapes can produce lone surrogates (``"\\ud800"``), which no UTF-8 output can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain_seq(seq) -> bool:
    """A sequence number the outputs can carry: a non-negative 64-bit integer."""
    return isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**63


def count_reasons(malformed: list[tuple[str, str]]) -> dict[str, int]:
    """{reason: how many} of (reason, raw line) pairs."""
    return dict(Counter(reason for reason, _ in malformed))


@dataclass
class EventLog:
    """What a generator produced, in arrival order, with the ground truth tests need."""
    lines: list[str]                       # as they arrive, malformed ones included
    events: list[UserEvent]                # the well-formed events, in arrival order
    late: list[UserEvent]                  # planted events that arrive behind (max seen - max_delay_ms)
    malformed: list[tuple[str, str]]       # (reason, raw line)
    max_delay_ms: int

    def write(self, path: Path) -> Path:
        Path(path).write_text("\n".join(self.lines) + "\n")
        return Path(path)

    def malformed_counts(self) -> dict[str, int]:
        return count_reasons(self.malformed)


_MALFORMED_KINDS = (
    ("not-json", lambda e: e.to_json()[:-7]),
    ("missing-user_id", lambda e: json.dumps({k: v for k, v in asdict(e).items() if k != "user_id"})),
    ("bad-timestamp", lambda e: json.dumps({**asdict(e), "timestamp": str(e.timestamp)})),
    ("unknown-event_type", lambda e: json.dumps({**asdict(e), "event_type": "hover"})),
    ("timestamp-not-ms", lambda e: json.dumps({**asdict(e), "timestamp": e.timestamp // 1000})),
)


def generate_user_events(count: int, *, seed: int = 0, users: int = 50, items: int = 200,
                         events_per_second: float = 100.0, max_delay_ms: int = 0,
                         late_fraction: float = 0.0, late_delay_ms: int = 60_000,
                         malformed_fraction: float = 0.0, start_ms: int = START_MS,
                         late_after_end: bool = True) -> EventLog:
    """``count`` user events; the same arguments always give the same events.

    Event times advance ``1000/events_per_second`` ms per event. Each event arrives after a
    delay drawn uniformly from [0, max_delay_ms] (the stream's out-of-orderness), except a
    ``late_fraction`` that arrives ``late_delay_ms`` later still; ``EventLog.late`` lists those
    that are really late (behind the newest event time seen minus ``max_delay_ms``).
    ``malformed_fraction`` of extra lines are broken in known ways.
    ``late_after_end=False`` leaves out the planted late events that would only arrive after the
    last regular one: a finite stream ends in a burst of them, whose fate depends on timing.
    """
    if count < 0 or not 0 <= late_fraction <= 1 or not 0 <= malformed_fraction <= 1:
        raise LabError("count must be >= 0 and the fractions within [0, 1]")
    if late_fraction and late_delay_ms <= max_delay_ms:
        raise LabError("late_delay_ms must exceed max_delay_ms, or 'late' events would not be late")
    rng = random.Random(seed)
    step = 1000.0 / events_per_second
    popular = [1 / (rank + 1) for rank in range(items)]  # Zipf-like item popularity
    last_seen: dict[str, tuple[int, int]] = {}  # user -> (last event time, session number)
    arriving: list[tuple[float, int, UserEvent, bool]] = []
    for i in range(count):
        ts = start_ms + int(i * step)
        user = f"u{int(rng.paretovariate(1.2)) % users:03d}"
        item = f"i{rng.choices(range(items), popular)[0]:04d}"
        last, session = last_seen.get(user, (None, 0))
        if last is not None and ts - last > SESSION_GAP_MS:
            session += 1
        last_seen[user] = (ts, session)
        event = UserEvent(user, item, rng.choices(EVENT_TYPES, FUNNEL_WEIGHTS)[0], ts,
                          f"{user}-s{session}", {"category": item_category(item),
                                                 "price": round(rng.uniform(1, 100), 2)})
        is_late = rng.random() < late_fraction
        delay = rng.uniform(0, max_delay_ms) + (late_delay_ms if is_late else 0)
        arriving.append((ts + delay, i, event, is_late))
    if not late_after_end:
        last_regular = max((a[0] for a in arriving if not a[3]), default=0)
        arriving = [a for a in arriving if not a[3] or a[0] <= last_regular]
    arriving.sort(key=lambda a: (a[0], a[1]))
    events = [a[2] for a in arriving]
    lines = [e.to_json() for e in events]
    malformed = []
    for _ in range(round(count * malformed_fraction)):
        reason, breaker = rng.choice(_MALFORMED_KINDS)
        raw = breaker(rng.choice(events))
        lines.insert(rng.randrange(len(lines) + 1), raw)
        malformed.append((reason, raw))
    return EventLog(lines, events, _arrived_late(arriving, max_delay_ms), malformed, max_delay_ms)


def out_of_order_stream(count: int = 9_600, seed: int = 0, **overrides) -> EventLog:
    """Chapter 04's stream (and the ``user-events`` dataset): 10 events per second of event time
    from 50 users, each arriving up to 1 min late; 1% planted 8 min late (never after the last
    regular event); 0.2% malformed. ``overrides`` change any of :func:`generate_user_events`'s options."""
    minute = 60_000
    options = dict(users=50, events_per_second=10, max_delay_ms=minute, late_fraction=0.01,
                   late_delay_ms=8 * minute, malformed_fraction=0.002, late_after_end=False)
    return generate_user_events(count, seed=seed, **{**options, **overrides})


def _arrived_late(arriving, bound_ms: int) -> list[UserEvent]:
    """Planted events that really arrive behind the newest event time seen minus the bound
    (one planted near the end of the stream is not late: nothing newer arrives before it)."""
    late, max_seen = [], None
    for _, _, event, planted in arriving:
        if planted and max_seen is not None and event.timestamp < max_seen - bound_ms:
            late.append(event)
        max_seen = event.timestamp if max_seen is None else max(max_seen, event.timestamp)
    return late


class Replayer:
    """Feeds lines into a directory that a Flink FileSource monitors, at a controlled rate.

    Each batch is written under a hidden name and renamed, so the source never reads half a
    file (Flink's file source skips names starting with '.' or '_').
    """

    def __init__(self, lines: list[str], directory: Path, rate: float = 1000.0, batch_seconds: float = 0.5):
        if rate <= 0:
            raise LabError(f"replay rate must be positive, got {rate}")
        self.lines = lines
        self.directory = Path(directory)
        self.rate = rate
        self.batch = max(1, int(rate * batch_seconds))
        self.written = 0
        self.visible: list[tuple[int, float]] = []  # (lines written so far, wall-clock ms they became visible)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Replayer":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, daemon=True, name="labkit-replay")
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        part = 0
        while self.written < len(self.lines) and not self._stop.is_set():
            chunk = self.lines[self.written:self.written + self.batch]
            hidden = self.directory / f".events-{part:06d}.jsonl"
            hidden.write_text("\n".join(chunk) + "\n")
            hidden.rename(self.directory / f"events-{part:06d}.jsonl")
            self.written += len(chunk)
            self.visible.append((self.written, time.time() * 1000))
            part += 1
            # pace by the total written so rounding never drifts the rate
            self._stop.wait(max(0.0, started + self.written / self.rate - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def wait(self, timeout: float | None = None) -> "Replayer":
        if self._thread:
            self._thread.join(timeout)
        return self

    def visible_at(self, index: int) -> float | None:
        """When line ``index`` appeared for the source (wall-clock ms); None if not yet written."""
        position = bisect.bisect_right([written for written, _ in self.visible], index)
        return self.visible[position][1] if position < len(self.visible) else None

    @property
    def done(self) -> bool:
        return self.written >= len(self.lines)
