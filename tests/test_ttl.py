"""State TTL's settings and its probe script, and the Duration trap failing at submission. (What each
update type and visibility makes a read return is chapter 02's probe, claimed there at both sizes.)"""
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
def test_a_duration_ttl_fails_when_the_job_is_submitted(healthy_cluster):
    wrong = StateTtlConfig.new_builder(Duration.of_seconds(2)).build()
    # the Duration wraps a Java object, which cannot be pickled into the Python operator
    with pytest.raises(TypeError, match="cannot pickle"):
        lk.submit(ttl.build_probe, name="t-ttl-duration", script=ttl.keep_alive_script(TTL_MS), ttl=wrong)
