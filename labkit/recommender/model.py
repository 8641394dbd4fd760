"""The recommender's model, in plain Python: what the Flink job runs, and its reference.

The seed tutorial keys collaborative filtering by user, so each user's MapState can never see
another user's items (chapter 07, section 1, shows it on the cluster). Here the work is split by
what each step needs to see:

1. **per user** (keyed by user): the :class:`Profile`: category interests decaying with event
   time, behaviour counts, the items of the current session, the items already seen. Each event
   yields *pair updates* (this item with the session's recent items, both directions) and a
   *request* carrying what the next step needs of the user (seen items, interest shares).
2. **per item** (keyed by item): the co-occurrence row of that item, i.e. how strongly each
   other item was used in the same sessions. Pair updates add to rows; a request for item ``i``
   ranks ``i``'s row, drops what the user has seen and boosts the user's favourite categories.

:class:`Recommender` runs exactly these steps in one process, in stream order: with the Flink
job at parallelism 1 it produces the same recommendations, record for record.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from ..data import UserEvent, item_category, stable_hash

EVENT_WEIGHTS = {"view": 1.0, "click": 2.0, "like": 3.0, "purchase": 5.0}


@dataclass(frozen=True)
class RecConfig:
    half_life_hours: float = 24.0   # a category interest halves after this much event time without use
    profile_weight: float = 1.0     # how much the user's category shares boost an item's co-occurrence score
    session_window: int = 5         # an item co-occurs with this many of the session's previous items
    top_k: int = 10
    max_seen: int = 300             # seen items kept per user (oldest dropped first)
    max_row: int = 100              # co-occurrences kept per item: past twice this, the weakest go


@dataclass
class Profile:
    interests: dict[str, float] = field(default_factory=dict)   # category -> decayed weight
    behaviour: dict[str, int] = field(default_factory=dict)     # event type -> count
    last_ts: int = 0
    session: str = ""
    recent: list[str] = field(default_factory=list)             # this session's items, newest last
    seen: list[str] = field(default_factory=list)               # every item used, oldest first

    def apply(self, event: UserEvent, config: RecConfig) -> list[str]:
        """Take the event in; return the session's items it co-occurs with."""
        if self.last_ts and event.timestamp > self.last_ts:
            decay = 0.5 ** ((event.timestamp - self.last_ts) / (config.half_life_hours * 3_600_000))
            self.interests = {c: w * decay for c, w in self.interests.items()}
        self.last_ts = max(self.last_ts, event.timestamp)
        weight = EVENT_WEIGHTS[event.event_type]
        category = item_category(event.item_id)
        self.interests[category] = self.interests.get(category, 0.0) + weight
        self.behaviour[event.event_type] = self.behaviour.get(event.event_type, 0) + 1
        if event.session_id != self.session:
            self.session, self.recent = event.session_id, []
        partners = [item for item in self.recent[-config.session_window:] if item != event.item_id]
        if event.item_id not in self.recent:
            self.recent.append(event.item_id)
            self.recent = self.recent[-config.session_window:]
        if event.item_id not in self.seen:
            self.seen.append(event.item_id)
            self.seen = self.seen[-config.max_seen:]
        return partners

    def shares(self) -> dict[str, float]:
        total = sum(self.interests.values())
        return {c: w / total for c, w in self.interests.items()} if total else {}

    def as_dict(self) -> dict:
        return {"interests": {c: round(w, 9) for c, w in sorted(self.interests.items())},
                "behaviour": dict(sorted(self.behaviour.items())), "last_ts": self.last_ts,
                "seen": len(self.seen)}


def add_pairs(row: dict[str, float], others, weight: float, config: RecConfig) -> None:
    """Add co-occurrences to an item's row, keeping it bounded (popular items would otherwise
    gather thousands, and every request for them would rank them all)."""
    for other in others:
        row[other] = row.get(other, 0.0) + weight
    if len(row) > 2 * config.max_row:
        keep = heapq.nsmallest(config.max_row, row.items(), key=lambda ow: (-ow[1], ow[0]))
        row.clear()
        row.update(keep)


def rank(row: dict[str, float], item: str, seen, shares: dict[str, float], config: RecConfig) -> list[str]:
    """Top-K of ``item``'s co-occurrence row that the user has not seen, favourite categories first."""
    seen = set(seen)
    seen.add(item)
    boost = {c: 1 + config.profile_weight * share for c, share in shares.items()}
    scored = ((weight * boost.get(item_category(other), 1.0), other)
              for other, weight in row.items() if other not in seen)
    return [other for _, other in heapq.nsmallest(config.top_k, scored, key=lambda so: (-so[0], so[1]))]


@dataclass(frozen=True)
class Recommendation:
    user: str
    item: str        # the item of the event that asked
    ts: int          # event time of that event (epoch ms)
    seq: int
    items: tuple     # the top-K, best first


class Recommender:
    """The streaming algorithm in one process: ``process(event)`` is what the job does per event."""

    def __init__(self, config: RecConfig = RecConfig()):
        self.config = config
        self.profiles: dict[str, Profile] = {}
        self.rows: dict[str, dict[str, float]] = {}

    def process(self, event: UserEvent) -> Recommendation:
        profile = self.profiles.setdefault(event.user_id, Profile())
        partners = profile.apply(event, self.config)
        weight = EVENT_WEIGHTS[event.event_type]
        if partners:
            add_pairs(self.rows.setdefault(event.item_id, {}), partners, weight, self.config)
            for other in partners:
                add_pairs(self.rows.setdefault(other, {}), (event.item_id,), weight, self.config)
        items = rank(self.rows.get(event.item_id, {}), event.item_id, profile.seen, profile.shares(), self.config)
        return Recommendation(event.user_id, event.item_id, event.timestamp, event.metadata.get("seq", -1),
                              tuple(items))

    def run(self, events) -> list[Recommendation]:
        return [self.process(e) for e in events]


class PopularityBaseline:
    """Everyone gets the most used items of the training period (weighted by event type) that
    they have not used yet."""

    def __init__(self, train, top_k: int = 10):
        score: dict[str, float] = {}
        for e in train:
            score[e.item_id] = score.get(e.item_id, 0.0) + EVENT_WEIGHTS[e.event_type]
        self.ranked = sorted(score, key=lambda i: (-score[i], i))
        self.top_k = top_k

    def lists(self, events) -> dict[int, tuple]:
        """The list each event of ``events`` would be shown, by its ``seq`` (seen items tracked
        from the events themselves: pass the whole stream)."""
        seen: dict[str, set] = {}
        result = {}
        for e in events:
            used = seen.setdefault(e.user_id, set())
            used.add(e.item_id)
            top = []
            for item in self.ranked:
                if item not in used:
                    top.append(item)
                    if len(top) == self.top_k:
                        break
            result[e.metadata["seq"]] = tuple(top)
        return result


class SeedAlgorithm:
    """The seed tutorial's CollaborativeFilteringEngine as it was meant to work, given the global
    view its keyed state never had: ratings averaged as ``(old + new) / 2``, item "similarity"
    ``|h1 - h2| / (h1 + h2 + 1)`` of (stable) hashes of the ids, user similarity by cosine of the
    rating vectors (its ``find_similar_users`` was never written), item-based scores x 0.8,
    user-based x 0.6, averaged where both suggest an item. Trained once on the training period:
    the user-based part stays as trained, the item-based part follows the event's item."""

    def __init__(self, train, top_k: int = 10, neighbours: int = 10):
        self.top_k = top_k
        self.ratings: dict[str, dict[str, float]] = {}
        for e in train:
            row = self.ratings.setdefault(e.user_id, {})
            row[e.item_id] = (row.get(e.item_id, 0.0) + EVENT_WEIGHTS[e.event_type]) / 2
        self.items = sorted({i for row in self.ratings.values() for i in row})
        self.hashes = {i: stable_hash(i) for i in self.items}
        self.user_based = {user: self._user_based(user, neighbours) for user in self.ratings}
        self._similar: dict[str, list[tuple[float, str]]] = {}

    def _user_based(self, user: str, neighbours: int) -> list[tuple[float, str]]:
        row = self.ratings[user]
        norm = math.sqrt(sum(r * r for r in row.values()))
        overlap: dict[str, float] = {}
        for other, other_row in self.ratings.items():
            if other != user:
                dot = sum(r * other_row[i] for i, r in row.items() if i in other_row)
                if dot:
                    overlap[other] = dot / (norm * math.sqrt(sum(r * r for r in other_row.values())))
        similar = sorted(((s, o) for o, s in overlap.items()), reverse=True)[:neighbours]
        return [(s * 0.6, i) for s, other in similar for i in self.ratings[other]]

    def _similar_items(self, item: str) -> list[tuple[float, str]]:
        if item not in self._similar:
            h = self.hashes.get(item, stable_hash(item))
            scores = ((abs(h - o) / (h + o + 1), i) for i, o in self.hashes.items() if i != item)
            self._similar[item] = [(s, i) for s, i in sorted(scores, reverse=True)]
        return self._similar[item]

    def recommend(self, user: str, item: str, used: set) -> tuple:
        item_based = [(s * 0.8, i) for s, i in self._similar_items(item) if i not in used][:self.top_k]
        combined = {i: s for s, i in item_based}
        user_based = sorted(((s, i) for s, i in self.user_based.get(user, []) if i not in used),
                            key=lambda si: (-si[0], si[1]))[:self.top_k]
        for score, i in user_based:
            combined[i] = (combined[i] + score) / 2 if i in combined else score
        return tuple(sorted(combined, key=lambda i: (-combined[i], i))[:self.top_k])

    def lists(self, events, only: set | None = None) -> dict[int, tuple]:
        """Lists for the events whose ``seq`` is in ``only`` (all if None), seen items tracked
        from the events themselves."""
        seen: dict[str, set] = {}
        result = {}
        for e in events:
            used = seen.setdefault(e.user_id, set())
            used.add(e.item_id)
            if only is None or e.metadata["seq"] in only:
                result[e.metadata["seq"]] = self.recommend(e.user_id, e.item_id, used)
        return result


__all__ = ["EVENT_WEIGHTS", "Profile", "RecConfig", "Recommendation", "Recommender", "add_pairs",
           "PopularityBaseline", "SeedAlgorithm", "rank"]
