"""Several jobs side by side on one time axis: each job's checkpoints as bars from trigger to
completion, and the stretches the job was not running (restarting, failed).

This is the view that shows what the checkpoint knobs do (interval, min pause, max concurrent:
the spacing and overlap of the bars) and what a restart strategy does (each restart is the gap
between two attempts of the job, timed by the JobManager: the restart delay).

    timeline = lk.Timeline({"fast": job_a, "paused": job_b}).show()
    timeline.run(20)              # watch for 20 s, then stop polling
    timeline.restart_delays("paused")
"""
from __future__ import annotations

import threading
import time

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import checkpoints
from .dashboard import LivePlot
from .errors import LabError
from .progress import Polling
from .rest import TERMINAL_JOB_STATES

CHECKPOINT_COLORS = {"COMPLETED": "tab:green", "IN_PROGRESS": "tab:gray", "FAILED": "tab:red"}
STATE_COLORS = {"RESTARTING": "tab:orange", "FAILING": "tab:red", "FAILED": "tab:red",
                "CREATED": "tab:gray", "INITIALIZING": "tab:gray", "CANCELLING": "tab:gray"}


class Timeline(LivePlot):
    """Polls each job's state every ``poll`` seconds, and its checkpoint history and execution
    attempts every ``refresh`` seconds, in a background thread, until :meth:`stop` (or every job
    has ended)."""

    def __init__(self, jobs: dict, poll: float = 0.2, refresh: float = 1.0, title: str = "checkpoints and restarts"):
        if not jobs:
            raise LabError("a timeline needs at least one job", hint="pass {label: job_handle, ...}")
        self.jobs = dict(jobs)
        self.rest = next(iter(self.jobs.values())).rest
        self.poll = poll
        self.refresh = refresh
        self.title = title
        self.key = "timeline:" + ",".join(sorted(self.jobs))
        self._states: dict[str, list[tuple[float, str]]] = {name: [] for name in self.jobs}
        self._histories: dict[str, pd.DataFrame] = {name: checkpoints.history({}) for name in self.jobs}
        self._attempts: dict[str, list[dict]] = {name: [] for name in self.jobs}
        self._lock = threading.Lock()
        self._polling = threading.Event()
        self._t0 = time.time()
        self.error: str | None = None
        self._stopped_at: float | None = None
        self._poller = threading.Thread(target=self._poll_loop, daemon=True, name="labkit-timeline")
        self._polling.set()
        self._poller.start()

    # --- polling --------------------------------------------------------------------------
    def _poll_loop(self) -> None:
        last_history = 0.0
        while self._polling.is_set():
            now = time.time()
            try:
                # The job list comes straight from the dispatcher; /jobs/{id} is served from a cache
                # that is up to web.refresh-interval old.
                current = {summary["jid"]: summary["state"] for summary in self.rest.jobs()}
                states = {name: current.get(job.job_id, "UNKNOWN") for name, job in self.jobs.items()}
            except LabError as exc:  # a cluster that went away ends the timeline with the reason
                self.error = str(exc).splitlines()[0]
                break
            with self._lock:
                for name, state in states.items():
                    self._states[name].append((now - self._t0, state))
            if now - last_history >= self.refresh or all(s in TERMINAL_JOB_STATES for s in states.values()):
                self._fetch_histories()
                last_history = now
            if all(s in TERMINAL_JOB_STATES for s in states.values()):
                break
            time.sleep(self.poll)
        self._stopped_at = time.time()
        self._polling.clear()

    def _fetch_histories(self) -> None:
        for name, job in self.jobs.items():
            frame = checkpoints.history(job.checkpoints())
            attempts = job.attempts()
            with self._lock:
                self._histories[name] = frame
                self._attempts[name] = attempts

    def run(self, seconds: float) -> "Timeline":
        """Keep polling for ``seconds`` (or until every job has ended), then stop."""
        with Polling(at_most=seconds) as running:
            while self._polling.is_set() and not running.expired:
                running.pause(min(self.poll, max(0.0, seconds - running.elapsed)))
        return self.stop()

    def stop(self) -> "Timeline":
        """Stop polling (the jobs keep running) after one last look at their checkpoints."""
        if self._polling.is_set():
            self._polling.clear()
            self._poller.join(timeout=10)
            self._fetch_histories()
            self._stopped_at = time.time()
        return self

    def active(self) -> bool:
        return self._polling.is_set()

    # --- what was seen ---------------------------------------------------------------------
    def state_spans(self, name: str) -> list[tuple[float, float, str]]:
        """(start, end, state) in seconds since the timeline started, one per run of equal states."""
        with self._lock:
            samples = list(self._states[name])
        spans: list[tuple[float, float, str]] = []
        # not strict: with no samples yet, the lone None has nothing to pair with
        for (t, state), following in zip(samples, samples[1:] + [None], strict=False):
            end = following[0] if following else t
            if spans and spans[-1][2] == state:
                spans[-1] = (spans[-1][0], end, state)
            else:
                spans.append((t, end, state))
        return spans

    def restart_spans(self, name: str) -> list[tuple[float, float]]:
        """(start, end) of each restart of job ``name``, in seconds since the timeline started: from
        the end of one attempt to the start of the next, as the JobManager timed them (a state
        polled every ``poll`` seconds can miss an attempt that fails within a poll, or while the
        machine is too busy to poll). A restart still under way is left out."""
        with self._lock:
            attempts = list(self._attempts[name])
        return [(before["end"] - self._t0, after["start"] - self._t0)
                for before, after in zip(attempts, attempts[1:], strict=False) if before["end"] is not None]

    def restart_delays(self, name: str) -> list[float]:
        """How long each restart of job ``name`` took, in seconds: the restart strategy's delay, plus
        what cancelling the failed attempt and deploying the next took beyond it."""
        return [round(end - start, 2) for start, end in self.restart_spans(name)]

    def checkpoints(self, name: str) -> pd.DataFrame:
        """Job ``name``'s checkpoints triggered since the timeline started, with ``start`` and ``end``
        in seconds since then (``end`` is now for a checkpoint still in progress)."""
        with self._lock:
            frame = self._histories[name].copy()
        frame = frame[~frame["is_savepoint"].fillna(False).astype(bool)]
        now = (self._stopped_at or time.time()) - self._t0
        frame["start"] = frame["trigger_timestamp"] / 1000 - self._t0
        duration = frame["end_to_end_duration"].where(frame["end_to_end_duration"] >= 0)
        frame["end"] = (frame["start"] + duration / 1000).fillna(now)
        return frame[frame["start"] >= 0].reset_index(drop=True)

    def gaps(self, name: str) -> pd.Series:
        """Seconds from the end of each completed checkpoint to the trigger of the next one."""
        frame = self.checkpoints(name)
        done = frame[frame["status"] == "COMPLETED"].reset_index(drop=True)
        return (done["start"].shift(-1) - done["end"]).dropna().round(2)

    def max_overlap(self, name: str) -> int:
        """The most checkpoints of job ``name`` that were in flight at the same moment."""
        frame = self.checkpoints(name)
        events = sorted([(t, 1) for t in frame["start"]] + [(t, -1) for t in frame["end"]])
        in_flight = peak = 0
        for _, change in events:
            in_flight += change
            peak = max(peak, in_flight)
        return peak

    def summary(self) -> pd.DataFrame:
        """One row per job: completed checkpoints, their median duration, the median gap between
        one ending and the next starting, the most in flight at once, and the restart delays."""
        rows = {}
        for name in self.jobs:
            frame = self.checkpoints(name)
            done = frame[frame["status"] == "COMPLETED"]
            median_duration = round(float((done["end"] - done["start"]).median()), 2) if len(done) else None
            rows[name] = {"completed": len(done),
                          "median duration (s)": median_duration,
                          "median gap (s)": round(float(self.gaps(name).median()), 2) if len(done) > 1 else None,
                          "max in flight": self.max_overlap(name),
                          "restart delays (s)": self.restart_delays(name)}
        return pd.DataFrame(rows).T

    # --- drawing ----------------------------------------------------------------------------
    def figure(self) -> Figure:
        names = list(self.jobs)
        fig = Figure(figsize=(11, 0.9 + 0.75 * len(names)), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for row, name in enumerate(reversed(names)):
            restarts = self.restart_spans(name)
            last_restart_end = restarts[-1][1] if restarts else float("-inf")
            # Finished restarts as the JobManager timed them; a restart under way, and the other
            # states, as polled.
            shaded = [(start, end, "RESTARTING") for start, end in restarts] + \
                     [span for span in self.state_spans(name) if span[2] != "RESTARTING" or span[0] > last_restart_end]
            for start, end, state in shaded:
                if state in STATE_COLORS:
                    ax.broken_barh([(start, max(end - start, self.poll))], (row - 0.45, 0.9),
                                   color=STATE_COLORS[state], alpha=0.25)
                    ax.text((start + end) / 2, row + 0.32, state.lower(), ha="center", fontsize=7,
                            color=STATE_COLORS[state])
            lane_ends: list[float] = []
            for _, checkpoint in self.checkpoints(name).iterrows():
                # Checkpoints in flight at the same time get stacked lanes, so an overlap shows.
                lane = next((i for i, end in enumerate(lane_ends) if end <= checkpoint["start"]), len(lane_ends))
                lane_ends[lane:lane + 1] = [checkpoint["end"]]
                y = row - 0.4 + 0.2 * min(lane, 3)
                ax.broken_barh([(checkpoint["start"], max(checkpoint["end"] - checkpoint["start"], 0.05))],
                               (y, 0.16), color=CHECKPOINT_COLORS.get(checkpoint["status"], "tab:gray"),
                               edgecolor="white", linewidth=1.5)
        ax.set_yticks(range(len(names)), list(reversed(names)), fontsize=8)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_xlim(left=0)
        ax.set_xlabel("seconds since the timeline started; bars: checkpoints (green completed, "
                      "grey in progress, red failed); shaded: job not running", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(self.title, fontsize=10, loc="left")
        return fig


__all__ = ["Timeline"]
