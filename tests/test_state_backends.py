"""Chapter 01's pipelines on the real cluster: every keyed state type gives the exact answer on
the backend the job reports. (Keyed buffers surviving a TaskManager kill, and incremental RocksDB
checkpoints writing a fraction of what full ones write, its files on local disk and its column
families named as the descriptors, are chapter 01's, asserted in its one run.)"""
import pytest

import labkit as lk
from labkit.pipelines import state_backends as sb

pytestmark = pytest.mark.cluster

REPORTED_BACKEND = {"hashmap": "HashMapStateBackend", "rocksdb incremental": "EmbeddedRocksDBStateBackend"}


@pytest.mark.parametrize("backend", ["hashmap", "rocksdb incremental"])
def test_every_state_type_gives_the_exact_profile_on_the_backend_the_job_reports(healthy_cluster, backend):
    records, keys = 6_000, 300
    name = f"t-profile-{backend.replace(' ', '-')}"
    config = lk.job_config(parallelism=1, checkpoint_interval="1s", **sb.BACKENDS[backend])
    job = lk.submit(sb.build_profiles, name=name, config=config, records=records, keys=keys)
    job.wait_running()
    assert job.config()["checkpoints.state_backend"] == REPORTED_BACKEND[backend]
    job.wait_finished(180)
    assert sb.read_profiles(job.output) == sb.reference_profiles(records, keys)
