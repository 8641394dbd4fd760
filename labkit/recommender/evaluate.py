"""Scoring recommendations the way a live recommender is used: every list shown after an event
is scored against the next item the user goes on to use that was new to them (next-item
prediction, evaluated test-then-train as the stream goes by).

Offline quality counts only the lists shown in the held-out period (after the split): the job
learned from the training period first, and never from an event before showing the list that
event asked for. The rolling quality on the live dashboard (labkit.recommender.monitor) is the same score over a sliding
window of the stream.
"""
from __future__ import annotations

import math

import pandas as pd


def next_new_items(events) -> dict[int, str]:
    """For each event (by ``seq``), the user's next item after it that the user had not used
    before; events with none (the user stops, or only comes back to old items) are left out."""
    seen: dict[str, set] = {}
    waiting: dict[str, list[int]] = {}
    target: dict[int, str] = {}
    for e in events:
        used = seen.setdefault(e.user_id, set())
        if e.item_id not in used:
            for seq in waiting.pop(e.user_id, []):
                target[seq] = e.item_id
            used.add(e.item_id)
        waiting.setdefault(e.user_id, []).append(e.metadata["seq"])
    return target


def hits(lists: dict[int, tuple], targets: dict[int, str], k: int = 10) -> pd.DataFrame:
    """Per scored event: ``hit`` (1/0) and ``gain`` (1/log2(rank+2) of the target, 0 if absent)."""
    rows = {}
    for seq, target in targets.items():
        top = list(lists.get(seq, ()))[:k]
        rank = top.index(target) if target in top else None
        rows[seq] = (0.0 if rank is None else 1.0, 0.0 if rank is None else 1.0 / math.log2(rank + 2))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["hit", "gain"]).sort_index()


def hit_rate_ndcg(lists: dict[int, tuple], targets: dict[int, str], k: int = 10) -> tuple[float, float]:
    """(HitRate@k, NDCG@k); with one relevant item per list, NDCG is the mean gain."""
    scored = hits(lists, targets, k)
    return (float(scored["hit"].mean()), float(scored["gain"].mean())) if len(scored) else (0.0, 0.0)


def held_out_targets(events, split_ms: int) -> dict[int, str]:
    """The targets of the events in the held-out period."""
    after = {e.metadata["seq"] for e in events if e.timestamp >= split_ms}
    return {seq: item for seq, item in next_new_items(events).items() if seq in after}


def quality_table(candidates: dict[str, dict[int, tuple]], targets: dict[int, str], k: int = 10) -> pd.DataFrame:
    """HitRate@k and NDCG@k of each named set of lists, and each as a multiple of the first's."""
    table = pd.DataFrame({name: hit_rate_ndcg(lists, targets, k) for name, lists in candidates.items()},
                         index=[f"HitRate@{k}", f"NDCG@{k}"]).T
    first = table.index[0]
    for column in list(table.columns):
        base = table.loc[first, column]
        table[f"x {first} ({column})"] = table[column] / base if base else float("nan")
    table.attrs["scored events"] = len(targets)
    return table

