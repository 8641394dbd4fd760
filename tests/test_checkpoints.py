"""Checkpoint statistics. Two TaskManager kills in one run with exact counts, a resume from a
savepoint at another parallelism and from a retained checkpoint are chapter 03's, asserted in its
one run at CI size; tests/test_exercise_checks.py resumes at the same parallelism."""
import pytest

import labkit as lk
from labkit import checkpoints
from labkit.pipelines import keyed_count as kc

CHECKPOINTED = {"execution.checkpointing.interval": "1s"}


def _payload(entries):
    return {"counts": {"completed": sum(e["status"] == "COMPLETED" for e in entries),
                       "failed": sum(e["status"] == "FAILED" for e in entries)},
            "history": list(reversed(entries))}


def _checkpoint(cid, duration, state, written=None, status="COMPLETED", persisted=0):
    return {"id": cid, "status": status, "is_savepoint": False, "end_to_end_duration": duration,
            "state_size": state, "checkpointed_size": written if written is not None else state,
            "persisted_data": persisted, "processed_data": 0, "trigger_timestamp": 1000 * cid,
            **({"failure_message": "Checkpoint expired before completing."} if status == "FAILED" else {})}


def test_analysis_of_a_history_payload():
    payload = _payload([_checkpoint(1, 300, 1000), _checkpoint(2, 2400, 3000, written=900),
                        _checkpoint(3, 0, 0, status="FAILED"), _checkpoint(4, 500, 7000, written=1200)])
    report = checkpoints.analyze(payload, interval_ms=2000)
    assert list(report.completed["id"]) == [1, 2, 4] and list(report.failed["id"]) == [3]
    assert report.longest["id"] == 2
    assert report.stats()["duration_ms_max"] == 2400 and report.stats()["state_size_last"] == 7000
    text = " ".join(report.recommendations)
    assert "2400 ms" in text and "Checkpoint expired" in text and "1200 of 7000" in text


def test_no_checkpoint_yet_says_what_to_check():
    report = checkpoints.analyze({"counts": {}, "history": []})
    assert report.longest is None and "execution.checkpointing.interval" in report.recommendations[0]


@pytest.mark.cluster
def test_report_matches_the_rest_payload_of_a_running_job(healthy_cluster):
    job = lk.submit(kc.build, name="t-cpstats", config=lk.job_config(**CHECKPOINTED), records=10_000_000, keys=100,
                    rate=2000)
    job.wait_running()
    job.wait_for_checkpoints(4, timeout=90)
    report = checkpoints.report_for(job)
    payload = job.checkpoints()
    job.cancel()
    done = [h for h in payload["history"] if h["status"] == "COMPLETED"]
    assert report.interval_ms == 1000
    assert set(report.completed["id"]) >= {h["id"] for h in done} - {max(h["id"] for h in done) + 1}
    longest = max(done, key=lambda h: h["end_to_end_duration"])
    assert report.completed["end_to_end_duration"].max() == longest["end_to_end_duration"]
    assert (report.completed["state_size"] > 0).all()


@pytest.mark.cluster
def test_a_timeline_that_looks_rarely_still_times_every_restart(healthy_cluster):
    """Each attempt of this job runs half a second before its poison record, so a status polled
    every 5 s misses them; the restarts come from the JobManager's record of each attempt."""
    fixed_delay = {"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": 2,
                   "restart-strategy.fixed-delay.delay": "1s"}
    job = lk.submit(kc.build, name="t-restarts", config=lk.job_config(**fixed_delay), records=10_000_000, keys=50,
                    parallelism=1, rate=1000, fail_at=500)
    timeline = lk.Timeline({"fixed": job}, poll=5)
    assert job.wait_terminal(90) == "FAILED"
    timeline.stop()
    attempts = job.attempts()
    assert [a["attempt"] for a in attempts] == [0, 1, 2]
    assert all(a["end"] - a["start"] >= 0.45 for a in attempts)
    delays = timeline.restart_delays("fixed")
    from_attempts = [after["start"] - before["end"] for before, after in zip(attempts, attempts[1:], strict=False)]
    assert delays == pytest.approx(from_attempts, abs=0.011)
    # none much sooner than the strategy's 1 s delay; later by the failed attempt's cancellation and
    # the next one's deployment, which a busy machine stretches, but well inside one 5 s poll
    assert len(delays) == 2 and all(0.85 <= d < 4.5 for d in delays), delays
    polled = [span for span in timeline.state_spans("fixed") if span[2] == "RESTARTING"]
    assert len(polled) < 2  # what the polled status alone would have counted
