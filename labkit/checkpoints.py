"""Checkpoint monitoring done right: the seed's CheckpointMonitor over the real REST fields.

``GET /jobs/{id}/checkpoints`` has ``counts``, ``summary`` (min/max/avg/p50.../p999 per field),
``latest`` (``completed``, ``savepoint``, ``failed``, ``restored``: single objects, not lists)
and ``history`` (up to ``web.checkpoints.history`` entries, newest first, including
IN_PROGRESS and FAILED ones). Sizes: ``state_size`` is the full state a checkpoint refers to,
``checkpointed_size`` what this checkpoint actually wrote (smaller with incremental RocksDB).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

COLUMNS = ("id", "status", "is_savepoint", "checkpoint_type", "trigger_timestamp", "end_to_end_duration",
           "state_size", "checkpointed_size", "processed_data", "persisted_data", "alignment_buffered",
           "num_acknowledged_subtasks", "num_subtasks", "external_path", "failure_message")


def history(payload: dict) -> pd.DataFrame:
    """The checkpoint history of a ``/checkpoints`` payload, oldest first, one row per checkpoint."""
    rows = [{name: entry.get(name) for name in COLUMNS} for entry in payload.get("history", [])]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values("id").reset_index(drop=True)


def completed(payload: dict) -> pd.DataFrame:
    """The completed checkpoints (savepoints left out) of a ``/checkpoints`` payload, oldest first."""
    frame = history(payload)
    return frame[(frame["status"] == "COMPLETED") & ~frame["is_savepoint"].astype(bool)].reset_index(drop=True)


@dataclass
class CheckpointReport:
    counts: dict
    interval_ms: int | None
    completed: pd.DataFrame
    failed: pd.DataFrame
    recommendations: list[str] = field(default_factory=list)

    @property
    def longest(self) -> pd.Series | None:
        """The completed checkpoint with the longest end-to-end duration."""
        if self.completed.empty:
            return None
        return self.completed.loc[self.completed["end_to_end_duration"].idxmax()]

    def stats(self) -> dict:
        done = self.completed
        if done.empty:
            return {"completed": 0}
        return {"completed": int(self.counts.get("completed", len(done))),
                "failed": int(self.counts.get("failed", 0)),
                "duration_ms_avg": float(done["end_to_end_duration"].mean()),
                "duration_ms_max": int(done["end_to_end_duration"].max()),
                "state_size_last": int(done["state_size"].iloc[-1]),
                "checkpointed_size_avg": float(done["checkpointed_size"].mean())}


def analyze(payload: dict, interval_ms: int | None = None) -> CheckpointReport:
    """Summarise a ``/checkpoints`` payload and derive recommendations from the measured numbers."""
    frame = history(payload)
    completed = frame[frame["status"] == "COMPLETED"].reset_index(drop=True)
    failed = frame[frame["status"] == "FAILED"].reset_index(drop=True)
    report = CheckpointReport(payload.get("counts", {}), interval_ms, completed, failed)
    tips = report.recommendations
    if completed.empty:
        tips.append("no completed checkpoint yet: is checkpointing enabled (execution.checkpointing.interval), "
                    "and has the job run longer than one interval?")
        return report
    slowest = int(completed["end_to_end_duration"].max())
    if interval_ms and slowest > interval_ms / 2:
        tips.append(f"the slowest checkpoint took {slowest} ms, over half the {interval_ms} ms interval: "
                    "raise the interval or execution.checkpointing.min-pause, or shrink what a barrier waits for "
                    "(smaller Python bundles, unaligned checkpoints under backpressure)")
    if not failed.empty:
        reason = failed["failure_message"].dropna().iloc[-1] if failed["failure_message"].notna().any() else "?"
        tips.append(f"{len(failed)} checkpoint(s) in the history failed; the newest said: {reason[:200]}")
    persisted = int(completed["persisted_data"].fillna(0).sum())
    if persisted:
        tips.append(f"{persisted} bytes of in-flight data were persisted: unaligned checkpoints trade "
                    "barrier waiting for larger checkpoints")
    written, full = completed["checkpointed_size"].iloc[-1], completed["state_size"].iloc[-1]
    if full and written < 0.5 * full:
        tips.append(f"the last checkpoint wrote {written} of {full} bytes of state ({written / full:.0%}): "
                    "incremental checkpointing is paying off")
    if len(completed) >= 4 and completed["state_size"].is_monotonic_increasing and \
            completed["state_size"].iloc[-1] > 2 * completed["state_size"].iloc[0]:
        tips.append("state grew at every checkpoint: if keys stop being useful, give the state a TTL")
    return report


def report_for(job) -> CheckpointReport:
    """:func:`analyze` for a running or finished job, with its configured interval."""
    interval = job.rest.checkpoint_config(job.job_id).get("interval")
    return analyze(job.checkpoints(), interval_ms=interval if interval and interval < 2**62 else None)
