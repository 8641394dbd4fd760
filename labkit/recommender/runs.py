"""Running the recommender job (chapter 07): over a file to its end, paced, or replayed live, and
timing it. The job itself is :mod:`labkit.recommender.pipeline`."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data import Replayer, parse_event
from ..errors import LabError, MalformedEvent
from ..jobs import job_config, submit
from ..outputs import output_dir
from ..progress import Polling
from .pipeline import build_from_files, read_emitted_ms, well_formed

# The replayed runs' sink publishes at checkpoints, so they need them; but in process mode each
# checkpoint makes every Python operator finish its bundle and snapshot its state, which holds
# records up, so replayed runs that time latency checkpoint rarely.
REPLAY_CHECKPOINT_INTERVAL = "5s"
# Job options for low latency in process mode (chapters 05 and 06): Python bundles close after 20 ms
# instead of the "process" preset's 500, network buffers flush after 10 ms instead of 100. They cost
# throughput.
LOW_LATENCY = {"python.fn-execution.bundle.time": 20, "execution.buffer-timeout.interval": "10ms"}

def wait_for_recommendations(output: Path, count: int, timeout: float = 120, job=None) -> int:
    """Block until ``count`` recommendations are committed (the sink publishes at checkpoints);
    return how many there are. With ``job``, fail early if it failed."""
    with Polling(at_most=timeout) as poll:
        while True:
            committed = len(read_emitted_ms(output))
            if committed >= count:
                return committed
            if job is not None and job.state() == "FAILED":
                raise LabError(f"job {job.name} failed with {committed} of {count} recommendations committed",
                               hint=job.root_cause())
            if poll.expired:
                raise LabError(f"only {committed} of {count} recommendations committed after {timeout:.0f} s",
                               hint="is the job running and checkpointing? (its sink publishes at each checkpoint)")
            poll.pause(0.5)


def latencies(output: Path, replayer, warmup_s: float = 0.0) -> pd.Series:
    """Event -> recommendation latency (ms) of every recommendation so far: from the moment the
    replay made the event's line visible to the source, to the moment its list left the job.
    Indexed by the event's ``seq``. ``warmup_s`` leaves out the events of the replay's first
    seconds: a fresh job's first records are slow (cold Python code and state), and the backlog
    they leave takes seconds to drain, more so with short bundles that leave little headroom."""
    line_of = {}
    for index, line in enumerate(replayer.lines):
        try:
            line_of[parse_event(line).metadata["seq"]] = index
        except MalformedEvent:
            continue  # it asks for no recommendation (and may carry the seq of the event it was broken from)
    result = {}
    started = replayer.visible[0][1] if replayer.visible else 0.0
    for seq, emitted in read_emitted_ms(output).items():
        visible = replayer.visible_at(line_of[seq]) if seq in line_of else None
        if visible is not None and visible >= started + warmup_s * 1000:
            result[seq] = emitted - visible
    return pd.Series(result, dtype=float).sort_index()


def write_events(name: str, lines: list[str]) -> Path:
    """``lines`` as one file in a fresh folder of the lab dir (a bounded source reads it in order)."""
    folder = output_dir(f"{name}-events")
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def start_bounded(name: str, lines: list[str], config: dict, **options):
    """Start the recommender over ``lines`` read from one file, in order; results in ``job.output``.
    With ``rate`` it paces itself (for a fault to land mid-stream): a restored job goes on from
    the file offset in its checkpoint, so even after a failure every event is taken in order."""
    return submit(build_from_files, name=name, config=config, events=write_events(name, lines), **options)


def run_bounded(name: str, lines: list[str], config: dict, timeout: float = 600, **options):
    """Run the recommender over ``lines`` to the end; the finished job (results in ``job.output``)."""
    return start_bounded(name, lines, config, **options).wait_finished(timeout)


def replay_config(preset: str = "lab", **overrides) -> dict:
    """The job options of ``preset`` (see :func:`labkit.jobs.job_config`) for a replayed run
    (checkpoints every ``REPLAY_CHECKPOINT_INTERVAL``), plus ``overrides``."""
    return job_config(preset, **{"checkpoint_interval": REPLAY_CHECKPOINT_INTERVAL, **overrides})


def start_replayed(name: str, lines: list[str], config: dict, rate: float, **options):
    """Start the recommender on a watched folder, then replay ``lines`` into it at ``rate``
    lines/s once the job runs; (job, replayer). Files found in one scan of the folder are read in
    no fixed order, so events may be taken slightly out of order (what the watermark's
    out-of-orderness bound is for)."""
    events = output_dir(f"{name}-events")
    job = submit(build_from_files, name=name, config=config, events=events, monitor_seconds=0.1,
                 **options).wait_running()
    # A first completed checkpoint means every task, Python workers included, is up: events
    # replayed before that would queue behind the start-up and time it, not the pipeline.
    job.wait_for_checkpoints(1)
    return job, Replayer(lines, events, rate=rate, batch_seconds=0.1)


def replay_latencies(name: str, lines: list[str], config: dict, rate: float, warmup_s: float) -> pd.Series:
    """Replay ``lines`` at ``rate`` into a fresh job, wait for every list, cancel the job; the
    event -> recommendation latencies (ms) after the first ``warmup_s`` seconds."""
    job, replayer = start_replayed(name, lines, config, rate=rate)
    replayer.start().wait()
    wait_for_recommendations(job.output, len(well_formed(lines)), job=job)
    job.cancel()
    return latencies(job.output, replayer, warmup_s=warmup_s)


def p99_runs(name: str, lines: list[str], config: dict, rate: float, warmup_s: float, budget_ms: float,
             attempts: int = 3) -> list[float]:
    """The p99 latency of replayed runs, run again (up to ``attempts``) while over ``budget_ms``.
    One run can miss by chance (a stall on a shared machine is more than 1 % of a short run, and a
    TaskManager that has just started is slower at first); a configuration that is really too
    slow misses every time."""
    runs = []
    for attempt in range(attempts):
        runs.append(float(replay_latencies(f"{name}-{attempt + 1}", lines, config, rate, warmup_s).quantile(0.99)))
        if runs[-1] <= budget_ms:
            break
    return runs
