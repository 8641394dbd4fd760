"""Chapter 01's pipelines on the real cluster: every keyed state type gives the exact answer on
the backend the job reports, and incremental checkpoints write a fraction of what full ones write.
(Keyed buffers surviving a TaskManager kill are chapter 01's, asserted in its one run.)"""
import pytest

import labkit as lk
from labkit import checkpoints, rocksdb
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


def test_incremental_checkpoints_write_a_fraction_of_what_full_ones_write_for_the_same_state(healthy_cluster):
    """Large, cold state (a 40,000-character document per key) plus small changes per record:
    after the first checkpoint, incremental RocksDB checkpoints upload only the new files.
    (Unpaced, as in chapter 01's race.)"""
    jobs = {label: lk.submit(sb.build_profiles, name=f"t-ckpt-{label.split()[1]}",
                             config=lk.job_config(parallelism=1, checkpoint_interval="2s", **sb.BACKENDS[label]),
                             records=100_000_000, keys=100, document_chars=40_000)
            for label in ("rocksdb full", "rocksdb incremental")}
    try:
        for job in jobs.values():
            job.wait_for_checkpoints(4, timeout=180)
        written = {}
        for label, job in jobs.items():
            done = checkpoints.completed(job.checkpoints()).iloc[1:]
            assert done["state_size"].min() > 3_000_000, "the documents should make the state MBs large"
            written[label] = (done["checkpointed_size"] / done["state_size"]).median()
        incremental = jobs["rocksdb incremental"]
        assert rocksdb.disk_bytes(incremental) > 3_000_000, "RocksDB keeps the state in files on local disk"
        families = rocksdb.column_family_options(incremental)
        assert {"document", "values"} <= set(families), sorted(families)  # named as the descriptors (thread mode)
        assert all(int(options["write_buffer_size"]) > 0 for options in families.values())
    finally:
        lk.cancel_all(jobs.values())
    assert written["rocksdb full"] > 0.9, written
    assert written["rocksdb incremental"] < 0.3, written
