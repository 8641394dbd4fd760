"""Several jobs' metrics side by side: one panel per measure, one line per job.

This is the view for experiments that run the same pipeline under different settings at the
same time (chapter 01: hashmap vs RocksDB, full vs incremental checkpoints), so that every
difference on the plot comes from the setting and not from the machine's mood.

    compare = lk.Compare({"hashmap": job_a, "rocksdb": job_b}).show()
    ...
    compare.final()        # the finished figure
    compare.summary()      # one row per job, numbers from the cluster
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import checkpoints
from .dashboard import PANELS as DASHBOARD_PANELS
from .dashboard import LivePlot, counter_rate, mark_events, not_running_spans, save_metrics, with_gaps
from .errors import LabError
from .metrics import TASKMANAGER_METRICS, MetricsSampler, steady_rate
from .rocksdb import disk_bytes as rocksdb_disk_bytes

MiB = 2**20


def _records_in(frame: pd.DataFrame) -> str | None:
    """The counter of records entering the first operator after the source."""
    return next((c for c in frame.columns if c.endswith(".numRecordsIn")
                 and not c.startswith(("job.", "tm.", "extra.")) and (frame[c].fillna(0) > 0).any()), None)


def _throughput(frame):
    column = _records_in(frame)
    # Python operators count records a bundle at a time: a longer window than the dashboard's smooths the steps
    return (counter_rate(frame, column, window_s=8.0) if column else None), "records/s"


def _column(column: str, unit: str, scale: float = 1.0):
    """A panel that plots one sampled column of a job, divided by ``scale``."""
    def extract(frame):
        return (frame[column].astype(float) / scale if column in frame else None), unit
    return extract


PANELS = {
    "throughput": ("Records/s into the keyed operator", _throughput),
    "state size": ("State size (last checkpoint's full size)", _column("job.lastCheckpointFullSize", "MiB", MiB)),
    "written": ("Written by the last checkpoint", _column("job.lastCheckpointSize", "MiB", MiB)),
    "duration": ("Last checkpoint's duration", _column("job.lastCheckpointDuration", "ms")),
    "disk": ("RocksDB working files on local disk", _column("extra.rocksdb_disk", "MiB", MiB)),
}


class Compare(LivePlot):
    """Samples every job once per ``interval`` seconds and draws ``panels`` (see :data:`PANELS`),
    plus, with ``memory=True``, the TaskManagers' heap and managed memory: shared by all the jobs,
    so drawn once."""

    def __init__(self, jobs: dict, panels=("throughput", "state size", "written", "duration"),
                 memory: bool = True, interval: float = 1.0, title: str = "side by side"):
        if not jobs:
            raise LabError("nothing to compare", hint="pass {label: job_handle, ...}")
        unknown = set(panels) - set(PANELS)
        if unknown:
            raise LabError(f"unknown comparison panel(s) {sorted(unknown)}", hint=f"choose from {sorted(PANELS)}")
        self.jobs = dict(jobs)
        self.panels = tuple(panels)
        self.memory = memory
        self.refresh = interval
        self.title = title
        self.key = "compare:" + ",".join(sorted(self.jobs))
        self.samplers = {
            label: MetricsSampler(job, interval, taskmanager_metrics=TASKMANAGER_METRICS if i == 0 and memory else (),
                                  extras={"rocksdb_disk": lambda job=job: rocksdb_disk_bytes(job)}
                                  if "disk" in self.panels else None).start()
            for i, (label, job) in enumerate(self.jobs.items())}

    def active(self) -> bool:
        return any(sampler.running for sampler in self.samplers.values())

    def stop(self) -> "Compare":
        for sampler in self.samplers.values():
            sampler.stop()
        return self

    def frames(self) -> dict[str, pd.DataFrame]:
        return {label: sampler.frame() for label, sampler in self.samplers.items()}

    def figure(self) -> Figure:
        frames = self.frames()
        rows = len(self.panels) + (1 if self.memory else 0)
        fig = Figure(figsize=(11, 2.2 * rows), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
        fig.suptitle(self.title)
        for ax, key in zip(axes, self.panels, strict=False):  # axes has one more when self.memory
            name, extract = PANELS[key]
            ax.set_title(name, fontsize=10, loc="left")
            for label, frame in frames.items():
                series, unit = extract(frame) if not frame.empty else (None, "")
                ax.set_ylabel(unit, fontsize=8)
                if series is not None and series.notna().any():
                    line = with_gaps(series.astype(float))
                    ax.plot(line.index, line.to_numpy(dtype=float), label=label, lw=1.5)
                for start, end, _ in not_running_spans(frame):
                    ax.axvspan(start, end, color="tab:red", alpha=0.08)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7, loc="upper left")
        if self.memory:
            ax = axes[-1]
            ax.set_title("TaskManager memory (all jobs together)", fontsize=10, loc="left")
            memory, unit = DASHBOARD_PANELS["memory"][1](next(iter(frames.values())))
            ax.set_ylabel(unit, fontsize=8)
            for column in memory.columns:
                ax.plot(memory.index, memory[column].to_numpy(dtype=float), label=column, lw=1.5)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7, loc="upper left")
        first = next(iter(self.samplers.values()))
        mark_events(axes, first.frame(), getattr(first.job.cluster, "events", []))
        axes[-1].set_xlabel("seconds since sampling started")
        return fig

    def summary(self) -> pd.DataFrame:
        """One row per job: its steady throughput and its completed checkpoints' medians, from the
        job's checkpoint history (every checkpoint, not only the sampled ones). The written/state
        ratio leaves out the first two checkpoints, which upload whatever state exists by then."""
        rows = {}
        for label, job in self.jobs.items():
            frame = self.samplers[label].frame()
            column = _records_in(frame) if not frame.empty else None
            done = checkpoints.completed(job.checkpoints())
            state, written = done["state_size"].astype(float), done["checkpointed_size"].astype(float)
            disk = frame["extra.rocksdb_disk"].dropna() if "extra.rocksdb_disk" in frame else pd.Series(dtype=float)
            rows[label] = {
                "records/s": round(steady_rate(frame, column), 1) if column else math.nan,
                "checkpoints": len(done),
                "state (MiB)": round(state.iloc[-1] / MiB, 2) if len(done) else math.nan,
                "written per checkpoint (MiB, median)": round(written.median() / MiB, 3) if len(done) else math.nan,
                # the first checkpoints upload the state that exists at all; what follows is the steady cost
                "written / state (median)": round(float(np.median((written / state.where(state > 0)).iloc[2:])), 3)
                if len(done) > 2 else math.nan,
                "duration (ms, median)": float(done["end_to_end_duration"].median()) if len(done) else math.nan,
                "RocksDB on disk (MiB, max)": round(disk.max() / MiB, 2) if disk.notna().any() else math.nan,
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def final(self):
        """The finished figure; in a regression run each job's samples are saved as CSV too."""
        self.stop()
        for sampler in self.samplers.values():
            save_metrics(sampler)
        return super().final()


__all__ = ["Compare"]
