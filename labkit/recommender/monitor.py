"""The recommender's live dashboard: what the cluster reports (events/s, state size, checkpoints)
next to what only the results can tell (event->recommendation latency, rolling quality).

Latency and quality are read from the job's committed output, which the exactly-once sink
publishes at each checkpoint: those two panels run a checkpoint interval behind the others.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..dashboard import LivePlot, counter_rate, mark_events, save_metrics, with_gaps
from ..errors import LabError
from ..metrics import _records_in_column, sample
from .evaluate import hits, next_new_items
from .pipeline import read_emitted_ms, read_recommendations
from .runs import latencies


class RecommenderMonitor(LivePlot):
    """Live view of a recommender job fed by ``replayer`` (a :class:`labkit.Replayer`); ``events``
    are the stream's well-formed events, from which each list's target (the user's next new item)
    is known. ``window``: lists per point of the rolling HitRate@10."""

    def __init__(self, job, output: Path, replayer, events, refresh: float = 2.0, window: int = 400):
        self.job = job
        self.output = Path(output)
        self.replayer = replayer
        self.targets = next_new_items(events)
        self.window = window
        self.refresh = refresh
        self.key = f"recommender-{job.name}"
        self.sampler = sample(job, interval=1.0)
        self.final_state: str | None = None

    def active(self) -> bool:
        return self.sampler.running

    def results(self) -> pd.DataFrame:
        """One row per committed recommendation: when it left the job (s on the sampler's clock),
        its latency (ms) and whether it held the user's next new item (NaN: no next item)."""
        emitted = pd.Series(read_emitted_ms(self.output), dtype=float)
        frame = self.sampler.frame()
        if emitted.empty or frame.empty:
            return pd.DataFrame(columns=["t", "latency_ms", "hit"])
        origin = float(frame["wall"].iloc[0]) - float(frame.index[0])  # wall clock at the sampler's t = 0
        frame = pd.DataFrame({"t": emitted / 1000 - origin,
                              "latency_ms": latencies(self.output, self.replayer)})
        lists = {r.seq: r.items for r in read_recommendations(self.output)}
        frame["hit"] = hits(lists, {s: t for s, t in self.targets.items() if s in lists})["hit"]
        return frame.sort_values("t")

    def figure(self) -> Figure:
        frame, results = self.sampler.frame(), self.results()
        fig = Figure(figsize=(11, 8.4), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(4, 1, sharex=True)
        state = self.final_state or (frame["job_state"].iloc[-1] if "job_state" in frame else "starting")
        fig.suptitle(f"recommender {self.job.name} — {state}")
        self._throughput(axes[0], frame)
        self._latency(axes[1], results)
        self._state(axes[2], frame)
        self._quality(axes[3], results)
        for ax in axes:
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="upper left")
        mark_events(axes, frame, getattr(self.job.cluster, "events", []))
        ended = self._replay_ended(frame)
        if ended is not None:
            for ax in axes:
                ax.axvline(ended, color="grey", ls=":", lw=1)
            axes[0].annotate("replay ended", (ended, 1.0), xycoords=("data", "axes fraction"),
                             ha="right", va="top", fontsize=7, color="grey")
        axes[-1].set_xlabel("seconds since sampling started")
        return fig

    def _replay_ended(self, frame) -> float | None:
        """When the replay's last events became visible to the job, on the sampler's clock."""
        if frame.empty or not self.replayer.visible or self.replayer.written < len(self.replayer.lines):
            return None
        origin = float(frame["wall"].iloc[0]) - float(frame.index[0])
        return self.replayer.visible[-1][1] / 1000 - origin

    def _throughput(self, ax, frame):
        ax.set_title("Events/s into the profiles, recommendations/s out", fontsize=10, loc="left")
        if frame.empty:
            return
        events = _records_in_column(frame, "update-profile")
        for column, label in ((events, "events/s"), ("recommend.numRecordsOut", "recommendations/s")):
            if column in frame:
                rate = with_gaps(counter_rate(frame, column))
                ax.plot(rate.index, rate.to_numpy(dtype=float), label=label)

    def _latency(self, ax, results):
        ax.set_title("Event -> recommendation latency (per second of output)", fontsize=10, loc="left")
        ax.set_ylabel("ms", fontsize=8)
        timed = results.dropna(subset=["latency_ms"])
        if timed.empty:
            ax.text(0.5, 0.5, "no committed recommendations yet", transform=ax.transAxes, ha="center", color="grey")
            return
        per_second = timed.groupby(np.floor(timed["t"]))["latency_ms"]
        ax.plot(per_second.median().index, per_second.median().to_numpy(), label="p50")
        ax.plot(per_second.quantile(0.99).index, per_second.quantile(0.99).to_numpy(), label="p99")
        ax.set_ylim(bottom=0)

    def _state(self, ax, frame):
        ax.set_title("Last checkpoint: state size and duration", fontsize=10, loc="left")
        for column, label, scale in (("job.lastCheckpointSize", "state size (KiB)", 1 / 1024),
                                     ("job.lastCheckpointDuration", "duration (ms)", 1)):
            if column in frame:
                ax.plot(frame.index, frame[column].astype(float).to_numpy() * scale, label=label)
        ax.set_ylim(bottom=0)

    def _quality(self, ax, results):
        ax.set_title(f"Rolling HitRate@10 (next new item, last {self.window} lists)", fontsize=10, loc="left")
        scored = results.dropna(subset=["hit"]).sort_index()
        if len(scored) < 10:
            ax.text(0.5, 0.5, "not enough scored lists yet", transform=ax.transAxes, ha="center", color="grey")
            return
        # rolling in stream order, shown once per second of output (a bundle leaves at one instant)
        rolling = scored["hit"].rolling(self.window, min_periods=max(1, self.window // 5)).mean()
        per_second = pd.DataFrame({"t": np.floor(scored["t"]), "rate": rolling}).dropna().groupby("t")["rate"].last()
        ax.plot(per_second.index, per_second.to_numpy(), label="HitRate@10", color="tab:green")
        ax.set_ylim(0, 1)

    def summary(self, warmup_s: float = 8.0) -> dict:
        """Throughput, latency after the replay's first ``warmup_s`` (see
        :func:`labkit.recommender.runs.latencies`), state size and quality of the run."""
        frame, results = self.sampler.frame(), self.results()
        column = _records_in_column(frame, "update-profile")
        steady = latencies(self.output, self.replayer, warmup_s)
        sizes = (frame["job.lastCheckpointSize"].dropna() if "job.lastCheckpointSize" in frame
                 else pd.Series(dtype=float))
        return {"events/s (peak 4 s)": float(counter_rate(frame, column).max()) if column else float("nan"),
                "recommendations": len(results),
                "latency p50 ms": float(steady.quantile(0.5)),
                "latency p99 ms": float(steady.quantile(0.99)),
                "state size KiB": float(sizes.iloc[-1] / 1024) if len(sizes) else float("nan"),
                "HitRate@10": float(results["hit"].mean())}

    def final(self):
        save_metrics(self.sampler)
        try:  # the job's state now, not at the last sample: a cancelled job says CANCELED
            self.final_state = self.job.state()
        except LabError:
            pass
        return super().final()
