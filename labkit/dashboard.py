"""Live plots of a sampled job: refreshed about once a second in JupyterLab, or drawn once at
the end when the notebook runs headless (papermill, CI: the lab's settings say ``headless``).

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot state), so a
background thread can redraw them while the learner runs other cells.
"""
from __future__ import annotations

import io
import threading

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .current_lab import lab_settings
from .errors import LabError
from .metrics import MetricsSampler, counter_moves, sample

_active: dict[str, "LivePlot"] = {}


def headless() -> bool:
    """True when no one is watching (papermill and CI runs): the lab's settings say so."""
    return lab_settings().headless


def _by_vertex(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    cols = [c for c in frame.columns if c.endswith("." + metric) and not c.startswith(("job.", "tm.", "extra."))]
    return frame[cols].rename(columns=lambda c: c.rsplit(".", 1)[0]).astype(float)


def counter_rate(frame: pd.DataFrame, column: str, window_s: float = 4.0) -> pd.Series:
    """Records/s from a cumulative counter, measured between the samples at which it moved.

    Flink's own *PerSecond meters average over 60 s, far too slow to show a change while you
    watch. A Python operator's counters move a bundle at a time, so a rate over a fixed number of
    samples zig-zags with how many bundle steps fell into each window; between update steps at
    least ``window_s`` apart it does not. A counter that stops moving for longer than both
    ``window_s`` and twice its usual step interval has stalled: its rate is then 0 (a replay that
    ended reads 0 from then on, not its last rate fading away).
    Where the sample was stale (the REST layer had not refreshed the counter) the rate is NaN.
    """
    counter = frame[column].astype(float)
    moved = counter_moves(counter)
    steps_t, steps_c = moved.index.to_numpy(dtype=float), moved.to_numpy(dtype=float)
    stalled_after = max(window_s, 2 * float(np.median(np.diff(steps_t)))) if len(steps_t) > 1 else window_s
    rates = np.full(len(frame), np.nan)
    for row, now in enumerate(frame.index.to_numpy(dtype=float)):
        last = np.searchsorted(steps_t, now, side="right") - 1
        if last < 1:
            continue
        first = min(max(np.searchsorted(steps_t, steps_t[last] - window_s, side="right") - 1, 0), last - 1)
        stalled = now - steps_t[last] > stalled_after
        rates[row] = 0.0 if stalled else (steps_c[last] - steps_c[first]) / (steps_t[last] - steps_t[first])
    # A stale sample (see metrics.time_shares) says nothing about the rate: a gap, not a stall.
    return pd.Series(rates, index=frame.index).clip(lower=0).where(counter.notna())


def _throughput(frame):
    rates = {}
    for vertex in _by_vertex(frame, "numRecordsOut").columns:
        received = f"{vertex}.numRecordsIn"
        if received in frame and (frame[received].fillna(0) > 0).any():
            rates[f"{vertex} in"] = counter_rate(frame, received)
        else:  # a source: show what it emits
            rates[f"{vertex} out"] = counter_rate(frame, f"{vertex}.numRecordsOut")
    return pd.DataFrame(rates, index=frame.index), "records/s"


def with_gaps(series: pd.Series, min_gap_s: float = 3.0) -> pd.Series:
    """``series`` without its missing samples, but with a NaN (a break in the drawn line) where
    values are missing for longer than ``min_gap_s`` and three usual sample intervals: a line
    joins across one stale sample, and shows a longer silence as the gap it is."""
    known = series.dropna()
    if len(known) < 2:
        return known
    times = known.index.to_numpy(dtype=float)
    steps = np.diff(times)
    limit = max(min_gap_s, 3 * float(np.median(np.diff(series.index.to_numpy(dtype=float)))))
    breaks = [(times[i] + times[i + 1]) / 2 for i in np.flatnonzero(steps > limit)]
    return pd.concat([known, pd.Series(np.nan, index=breaks)]).sort_index() if breaks else known


def _busy(frame):
    busy = _by_vertex(frame, "busyTimeMsPerSecond").add_suffix(" busy")
    bp = _by_vertex(frame, "backPressuredTimeMsPerSecond").add_suffix(" backpressured")
    return pd.concat([busy, bp], axis=1), "ms per second"


def _watermark_lag(frame):
    wm = _by_vertex(frame, "currentInputWatermark")
    if wm.empty or "wall" not in frame:
        return wm, "s"
    return wm.rsub(frame["wall"] * 1000.0, axis=0) / 1000.0, "wall clock − watermark (s)"


def _watermark_event_time(frame):
    """Each operator's watermark in event time, in seconds since the lowest watermark seen: for a
    replayed stream, whose event time is not today's."""
    wm = _by_vertex(frame, "currentInputWatermark")
    if wm.empty or not wm.notna().any().any():
        return wm, "s"
    return (wm - np.nanmin(wm.to_numpy(dtype=float))) / 1000.0, "event time (s since the first watermark)"


def _checkpoints(frame):
    cols = {"job.lastCheckpointDuration": "duration (ms)", "job.lastCheckpointSize": "size (KiB)"}
    data = frame[[c for c in cols if c in frame]].astype(float).rename(columns=cols)
    if "size (KiB)" in data:
        data["size (KiB)"] /= 1024
    return data, ""


def _memory(frame):
    cols = {"tm.Status.JVM.Memory.Heap.Used": "TM heap used", "tm.Status.Flink.Memory.Managed.Used": "TM managed used"}
    return frame[[c for c in cols if c in frame]].astype(float).rename(columns=cols) / 2**20, "MiB"


PANELS = {
    "throughput": ("Throughput per operator", _throughput),
    "backpressure": ("Busy and backpressured time over the last 5 s", _busy),
    "watermark": ("Watermark lag", _watermark_lag),
    "event_time": ("Watermark in event time", _watermark_event_time),
    "checkpoints": ("Last checkpoint", _checkpoints),
    "memory": ("TaskManager memory", _memory),
}
# Columns drawn against a second y-axis on the right (another unit than the panel's).
SECONDARY = {"size (KiB)"}


def not_running_spans(frame: pd.DataFrame) -> list[tuple[float, float, str]]:
    """(start, end, state) of the stretches where the job was not RUNNING (e.g. RESTARTING)."""
    if "job_state" not in frame or frame.empty:
        return []
    spans, start, state = [], None, None
    times, states = list(frame.index), list(frame["job_state"])
    for t, current in zip(times, states, strict=True):
        if current != "RUNNING" and start is None:
            start, state = t, current
        elif current == "RUNNING" and start is not None:
            spans.append((start, t, state))
            start = None
    if start is not None and state not in ("FINISHED", "CANCELED"):
        spans.append((start, times[-1], state))
    return spans


def mark_events(axes, frame: pd.DataFrame, events: list[tuple[float, str]]) -> None:
    """A dotted line on every panel, labelled on the first, at each event (wall-clock s, what)
    that falls inside the sampled span: a TaskManager killed or started (``Cluster.events``)."""
    if frame.empty or "wall" not in frame:
        return
    origin = float(frame["wall"].iloc[0]) - float(frame.index[0])  # wall clock at the sampler's t = 0
    first, last = float(frame.index[0]), float(frame.index[-1])
    for wall, what in events:
        at = wall - origin
        if first <= at <= last:
            for ax in axes:
                ax.axvline(at, color="black", ls=":", lw=1)
            axes[0].annotate(what, (at, 0.98), xycoords=("data", "axes fraction"), rotation=90,
                             ha="right", va="top", fontsize=7)


def save_metrics(sampler: MetricsSampler) -> None:
    """In a regression run (the lab's settings name a ``metrics_dir``), keep the sampled metrics
    there as ``<job>.metrics.csv``."""
    metrics_dir = lab_settings().metrics_dir
    if metrics_dir:
        metrics_dir.mkdir(parents=True, exist_ok=True)
        sampler.frame().to_csv(metrics_dir / f"{sampler.job.name}.metrics.csv")


class LivePlot:
    """A figure that redraws itself in the notebook every ``refresh`` seconds while its data source
    is active (headless: nothing until :meth:`final`). Subclasses draw :meth:`figure`, say when
    they are :meth:`active` and name themselves by ``key`` (a new plot replaces an older one
    with the same key, e.g. when a cell is run again)."""

    key: str = "plot"
    refresh: float = 1.0
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None

    def figure(self) -> Figure:
        raise NotImplementedError

    def active(self) -> bool:
        raise NotImplementedError

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()

    def show(self) -> "LivePlot":
        """Display a live-updating plot (headless: nothing now, call :meth:`final` at the end)."""
        previous = _active.get(self.key)
        if previous is not None:
            previous.close()
        _active[self.key] = self
        self._stop = threading.Event()
        self._thread = None
        if headless():
            return self
        import ipywidgets as widgets
        from IPython.display import display
        self._image = widgets.Image(value=self.png(), format="png")
        display(self._image)
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"labkit-plot-{self.key}")
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh):
            self._image.value = self.png()
            if not self.active():
                break
        self._image.value = self.png()

    def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def final(self):
        """The finished plot as a static PNG image (what papermill keeps in the executed notebook)."""
        self.close()
        from IPython.display import Image
        return Image(data=self.png(), format="png")


class LiveDashboard(LivePlot):
    def __init__(self, sampler: MetricsSampler, panels=("throughput", "backpressure", "checkpoints", "memory"),
                 refresh: float = 1.0, title: str | None = None):
        unknown = set(panels) - set(PANELS)
        if unknown:
            raise LabError(f"unknown dashboard panel(s) {sorted(unknown)}", hint=f"choose from {sorted(PANELS)}")
        self.sampler = sampler
        self.panels = tuple(panels)
        self.refresh = refresh
        self.title = title or f"job {sampler.job.name}"
        self.key = sampler.job.name
        self.final_state: str | None = None

    def active(self) -> bool:
        return self.sampler.running

    def figure(self) -> Figure:
        frame = self.sampler.frame()
        fig = Figure(figsize=(11, 2.3 * len(self.panels)), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(self.panels), 1, sharex=True, squeeze=False)[:, 0]
        state = self.final_state or (frame["job_state"].iloc[-1] if "job_state" in frame else "starting")
        fig.suptitle(f"{self.title} — {state}")
        for ax, key in zip(axes, self.panels, strict=True):
            name, extract = PANELS[key]
            data, unit = extract(frame) if not frame.empty else (pd.DataFrame(), "")
            data = data.dropna(axis=1, how="all") if not data.empty else data
            ax.set_title(name, fontsize=10, loc="left")
            ax.set_ylabel(unit, fontsize=8)
            if data.empty:
                empty = "no samples yet" if frame.empty else "no values reported (a watermark: none has arrived)"
                ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", color="grey")
                continue
            primary = [c for c in data.columns if c not in SECONDARY]
            for column in primary:
                line = with_gaps(data[column].astype(float))
                ax.plot(line.index, line.to_numpy(dtype=float), label=column, lw=1.5)
            if primary:
                ax.set_ylim(bottom=min(0, float(np.nanmin(data[primary].to_numpy(dtype=float)))))
            handles, labels = ax.get_legend_handles_labels()
            for column in (c for c in data.columns if c in SECONDARY):
                right = ax.twinx()
                series = with_gaps(data[column].astype(float))
                line, = right.plot(series.index, series.to_numpy(dtype=float), color="tab:orange", lw=1.2, ls="--")
                right.set_ylabel(column, fontsize=8)
                right.set_ylim(bottom=0)
                handles.append(line)
                labels.append(column)
            ax.legend(handles, labels, fontsize=7, loc="upper left")
            ax.grid(alpha=0.3)
        for start, end, state in not_running_spans(frame):
            for ax in axes:
                ax.axvspan(start, end, color="tab:red", alpha=0.12)
            axes[0].annotate(state, ((start + end) / 2, 1.0), xycoords=("data", "axes fraction"),
                             ha="center", va="top", fontsize=7, color="tab:red")
        mark_events(axes, frame, getattr(self.sampler.job.cluster, "events", []))
        axes[-1].set_xlabel("seconds since sampling started")
        return fig

    def final(self):
        """The finished plot as a static PNG image (what papermill keeps in the executed notebook).

        In a regression run (a ``metrics_dir`` in the lab's settings) the sampled metrics are also saved there as CSV.
        """
        save_metrics(self.sampler)
        try:  # the job's state now, not at the last sample: a job that finished says FINISHED
            self.final_state = self.sampler.job.state()
        except LabError:
            pass
        return super().final()


def live(job, panels=("throughput", "backpressure", "checkpoints", "memory"), interval: float = 1.0,
         title: str | None = None, **sampler_options) -> LiveDashboard:
    """Sample ``job`` in the background and show its live dashboard."""
    return LiveDashboard(sample(job, interval, **sampler_options), panels, interval, title).show()


__all__ = ["LiveDashboard", "LivePlot", "live", "headless"]
