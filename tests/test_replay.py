"""Generated events replayed at a controlled rate through a real Flink FileSource."""
import shutil
import time
from collections import Counter

import pytest

import labkit as lk
from labkit.pipelines import event_counts

pytestmark = pytest.mark.cluster


def test_replayed_events_are_counted_and_malformed_ones_reported_by_reason(healthy_cluster):
    log = lk.generate_user_events(3000, seed=11, malformed_fraction=0.03)
    events_dir = healthy_cluster.settings.data_dir / "t-replay"
    shutil.rmtree(events_dir, ignore_errors=True)
    events_dir.mkdir(parents=True)
    job = lk.submit(event_counts.build, name="t-replay",
                    config=lk.job_config(**{"execution.checkpointing.interval": "1s"}), events_dir=events_dir)
    job.wait_running()

    rate = 1500
    started = time.monotonic()
    replay = lk.Replayer(log.lines, events_dir, rate=rate).start()
    replay.wait(60)
    took = time.monotonic() - started
    paced = len(log.lines) / rate
    # paced: never much faster than the rate (a floor); the ceiling is wide, a busy machine only delays
    assert replay.done and paced - 0.5 <= took <= 3 * paced + 2, f"replay of {len(log.lines)} lines took {took:.1f}s"

    expected = {"type": dict(Counter(e.event_type for e in log.events)), "malformed": log.malformed_counts()}
    assert sum(expected["malformed"].values()) == 90 and len(expected["malformed"]) >= 4
    deadline = time.monotonic() + 120
    totals = {}
    while time.monotonic() < deadline:
        totals = event_counts.read_totals(job.output)
        if totals == expected:
            break
        time.sleep(1)
    assert totals == expected
    assert job.exceptions() == [], "a malformed line must never fail the job"
    job.cancel()
