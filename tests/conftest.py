"""One real Flink cluster per test session, in its own lab (own ports and folder)."""
from __future__ import annotations

import os
import time

import pytest

TEST_LAB = "pytest"
TEST_PORT_OFFSET = int(os.environ.get("LABKIT_TEST_PORT_OFFSET", "300"))  # clear of a learner's lab (8081)


def pytest_collection_modifyitems(items):
    """A test that uses the cluster is marked ``cluster``, so ``-m "not cluster"`` starts none."""
    for item in items:
        if {"cluster", "healthy_cluster"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def lab_env(tmp_path_factory):
    """Environment of the test lab: what the tests start (notebook kernels, the labkit command)
    inherits it, and this process's lab is made of it."""
    from labkit import current_lab
    from labkit.settings import LabSettings

    home = tmp_path_factory.mktemp("labhome")
    env = {"LABKIT_HOME": str(home), "LABKIT_LAB": TEST_LAB, "LABKIT_PORT_OFFSET": str(TEST_PORT_OFFSET),
           "LABKIT_HEADLESS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("LABKIT_REST_URL", None)
    current_lab.use(LabSettings.from_env())  # read once, as a kernel reads its own at its start
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def cluster(lab_env):
    import labkit as lk
    from labkit.cluster import LocalCluster

    started = time.monotonic()
    lab = lk.up()
    print(f"\ntest lab up in {time.monotonic() - started:.1f}s at {lab.url}")
    yield lab
    stopped = lab.down()
    leftovers = LocalCluster(lab.settings).processes()
    assert not leftovers, f"processes left after down(): {leftovers} (stopped {stopped})"


@pytest.fixture()
def healthy_cluster(cluster):
    """The session cluster with the lab's TaskManagers and no running job (fault tests change it)."""
    for job in cluster.rest.jobs():
        if job["state"] not in ("FINISHED", "FAILED", "CANCELED"):
            cluster.rest.cancel(job["jid"])
    expected = cluster.settings.taskmanagers
    for _ in range(expected - len(cluster.live_taskmanagers())):
        cluster.start_taskmanager()
    cluster.wait_until(lambda o: o["taskmanagers"] == expected and o["slots_available"] == o["slots_total"], 90,
                       f"{expected} TaskManagers with all slots free")
    return cluster


@pytest.fixture(scope="session")
def broker(cluster):
    """The test lab's Kafka broker, started once; the cluster fixture's down() stops it with the lab."""
    import labkit as lk
    return lk.kafka_broker()
