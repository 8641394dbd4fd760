"""A realistic, seeded clickstream for the recommender (chapter 07), with a held-out future.

No public interaction dataset is reachable from the lab's package registries, so the stream is
generated, with the structure real clickstreams have and the recommender relies on:

- **Zipf popularity**: item ``i`` of the catalogue is drawn with weight ``1 / (rank + 1)``.
- **Themes**: each category's items fall into small themes (the things bought together:
  a tent, a sleeping bag, a stove). A session stays within one theme most of the time, which is
  what item-to-item co-occurrence can learn and global popularity cannot.
- **Taste clusters with drift**: each user likes three categories, and two themes in each that
  most of the user's sessions return to (``loyalty``); over the user's sessions the weight moves
  from the first category towards the third, so recent behaviour predicts better than old.
- **Sessions** of a few items, seconds apart, hours between sessions.
- **Funnel**: every item is viewed; some views lead to a click, some clicks to a like or a purchase.

Events are in event-time order, each with a ``seq`` in its metadata (its position in the
stream, used to measure event->recommendation latency). The split is by time: everything before
``split_ms`` trains, everything after is the held-out future the evaluation scores against.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..data import _MALFORMED_KINDS, CATEGORIES, START_MS, UserEvent, count_reasons, item_category, stable_hash
from ..errors import LabError

THEMES_PER_CATEGORY = 12
HOUR_MS = 3_600_000


@dataclass
class Clickstream:
    lines: list[str]                    # what the source reads: every event as JSON, malformed lines mixed in
    events: list[UserEvent]             # the well-formed events, in stream order
    malformed: list[tuple[str, str]]    # (reason, raw line)
    split_ms: int                       # events before this train, the rest are the held-out future

    @property
    def train(self) -> list[UserEvent]:
        return [e for e in self.events if e.timestamp < self.split_ms]

    @property
    def test(self) -> list[UserEvent]:
        return [e for e in self.events if e.timestamp >= self.split_ms]

    def malformed_counts(self) -> dict[str, int]:
        return count_reasons(self.malformed)


def theme_of(item_id: str) -> int:
    return stable_hash(item_id + "#theme") % THEMES_PER_CATEGORY


def generate_clickstream(users: int, *, items: int = 2_000, sessions_per_user: int = 8, days: float = 7.0,
                         train_share: float = 0.8, loyalty: float = 0.75, malformed_fraction: float = 0.0,
                         seed: int = 0) -> Clickstream:
    """``users`` users' sessions over ``days`` of event time; the same arguments give the same stream."""
    if users < 1 or items < len(CATEGORIES) * THEMES_PER_CATEGORY or not 0 < train_share < 1:
        raise LabError(f"need users >= 1, items >= {len(CATEGORIES) * THEMES_PER_CATEGORY} and 0 < train_share < 1")
    rng = random.Random(seed)
    catalogue = [f"i{n:05d}" for n in range(items)]
    rng.shuffle(catalogue)  # the popularity rank has nothing to do with the id
    weight = {item: 1.0 / (rank + 1) for rank, item in enumerate(catalogue)}
    by_theme: dict[tuple[str, int], list[str]] = {}
    for item in catalogue:
        by_theme.setdefault((item_category(item), theme_of(item)), []).append(item)
    span_ms = int(days * 24 * HOUR_MS)
    events: list[UserEvent] = []
    for u in range(users):
        user = f"u{u:05d}"
        tastes = rng.sample(CATEGORIES, 3)
        favourites = {c: rng.sample(range(THEMES_PER_CATEGORY), 2) for c in tastes}
        starts = sorted(rng.randrange(span_ms) for _ in range(sessions_per_user))
        for s, start in enumerate(starts):
            drift = s / max(1, sessions_per_user - 1)  # 0 -> 1 over the user's life
            category = rng.choices(tastes, (1 - drift + 0.1, 0.6, drift + 0.1))[0]
            loyal = rng.random() < loyalty
            theme_index = rng.choice(favourites[category]) if loyal else rng.randrange(THEMES_PER_CATEGORY)
            theme = by_theme[(category, theme_index)]
            ts = START_MS + start
            for _ in range(1 + int(rng.expovariate(1 / 5))):
                pool = theme if rng.random() < 0.9 else catalogue
                item = rng.choices(pool, [weight[i] for i in pool])[0]
                for event_type in _funnel(rng):
                    events.append(UserEvent(user, item, event_type, ts, f"{user}-s{s}",
                                            {"category": item_category(item)}))
                    ts += rng.randrange(2_000, 30_000)
    events.sort(key=lambda e: (e.timestamp, e.user_id))
    events = [UserEvent(e.user_id, e.item_id, e.event_type, e.timestamp, e.session_id,
                        {**e.metadata, "seq": n}) for n, e in enumerate(events)]
    lines = [e.to_json() for e in events]
    malformed = []
    for _ in range(round(len(events) * malformed_fraction)):
        reason, breaker = rng.choice(_MALFORMED_KINDS)
        raw = breaker(rng.choice(events))
        lines.insert(rng.randrange(len(lines) + 1), raw)
        malformed.append((reason, raw))
    split_ms = events[int(len(events) * train_share)].timestamp if events else START_MS
    return Clickstream(lines, events, malformed, split_ms)


def _funnel(rng: random.Random) -> list[str]:
    """view -> click -> like / purchase, each step less likely than the one before."""
    steps = ["view"]
    if rng.random() < 0.35:
        steps.append("click")
        if rng.random() < 0.3:
            steps.append("like")
        if rng.random() < 0.2:
            steps.append("purchase")
    return steps
