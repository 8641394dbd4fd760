"""State TTL as chapter 02 claims it, on the real cluster: expired values gone after the TTL and
present before it, reads keeping a key alive only under OnReadAndWrite, an expired value returned
once under ReturnExpiredIfNotCleanedUp, and the Duration trap failing at submission."""
import pytest
from pyflink.common import Duration
from pyflink.datastream.state import StateTtlConfig

import labkit as lk
from labkit.pipelines import ttl
from labkit.pipelines.common import ttl_config

TTL_MS = 2_000


def test_unknown_ttl_settings_say_which_exist():
    with pytest.raises(lk.LabError, match="OnReadAndWrite"):
        ttl_config(TTL_MS, update="OnRead")
    with pytest.raises(lk.LabError, match="full snapshot"):
        ttl_config(TTL_MS, cleanup="sometimes")


def test_keep_alive_script_reads_the_reader_well_past_the_ttl():
    script = ttl.keep_alive_script(TTL_MS)
    reads = sorted(c.at_ms for c in script if c.action == "read" and c.key == "reader")
    assert reads[0] < TTL_MS < reads[-1] and reads[-1] > 2 * TTL_MS
    assert max(b - a for a, b in zip(reads, reads[1:], strict=False)) < TTL_MS / 2
    assert [c.at_ms for c in script if c.key == "idle"] == [0, reads[-2], reads[-1]]


@pytest.mark.cluster
def test_update_type_and_visibility_change_what_a_read_returns(healthy_cluster):
    script = ttl.keep_alive_script(TTL_MS)
    configs = {"never": ttl_config(TTL_MS),
               "on-read": ttl_config(TTL_MS, update="OnReadAndWrite"),
               "stale": ttl_config(TTL_MS, visibility="ReturnExpiredIfNotCleanedUp")}
    jobs = {label: lk.submit(ttl.build_probe, name=f"t-ttl-{label}", script=script, ttl=configs[label])
            for label in configs}
    for job in jobs.values():
        job.wait_finished(180)
    reads = {label: ttl.read_probe(job.output) for label, job in jobs.items()}
    final, again = sorted({at for at, key in reads["never"] if key == "idle"})
    never, on_read, stale = reads["never"], reads["on-read"], reads["stale"]
    # before the TTL every read sees the value; after it, only a key that keeps being read
    assert all(never[(at, "reader")] == "written at 0 ms" for at in (500, 1000, 1500))
    assert never[(final, "reader")] is None and never[(final, "idle")] is None
    assert on_read[(final, "reader")] == "written at 0 ms" and on_read[(final, "idle")] is None
    # an expired value that was never cleaned up is returned once, and that read removes it
    assert stale[(final, "idle")] == "written at 0 ms" and stale[(again, "idle")] is None


@pytest.mark.cluster
def test_a_duration_ttl_fails_when_the_job_is_submitted(healthy_cluster):
    wrong = StateTtlConfig.new_builder(Duration.of_seconds(2)).build()
    # the Duration wraps a Java object, which cannot be pickled into the Python operator
    with pytest.raises(TypeError, match="cannot pickle"):
        lk.submit(ttl.build_probe, name="t-ttl-duration", script=ttl.keep_alive_script(TTL_MS), ttl=wrong)
