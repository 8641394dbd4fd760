"""The lab's cluster, jobs and fault hooks, on a real local Flink cluster."""
from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from dataclasses import replace

import pandas as pd
import psutil
import pytest

import labkit as lk
from labkit import cli
from labkit.cluster import AttachedCluster, LocalCluster
from labkit.errors import ClusterDown, ClusterNotReady
from labkit.pipelines import keyed_count as kc
from labkit.processes import LAB_MARKER

pytestmark = pytest.mark.cluster

CHECKPOINTED = {"execution.checkpointing.interval": "1s"}


def count_job(name: str, records: int, keys: int, rate: int | None = None, config: dict | None = None,
              preset: str = "lab"):
    return lk.submit(kc.build, name=name, config=lk.job_config(preset, **(config or {})), records=records, keys=keys,
                     rate=rate)


def test_cluster_is_ready_on_loopback_with_all_slots(cluster):
    overview = cluster.overview()
    assert overview["taskmanagers"] >= 1 and overview["slots_total"] >= 4
    config = cluster.rest.cluster_config()
    assert config["rest.bind-address"] == "127.0.0.1"
    assert config["rest.port"] == str(cluster.settings.rest_port)
    assert config["web.timeout"] == "20 s"  # a killed TaskManager holds up the metrics no longer than this
    roles = sorted(p.role for p in cluster.processes())
    assert roles.count("jobmanager") == 1 and roles.count("taskmanager") >= 1


def test_up_again_reuses_the_running_lab(cluster):
    pids = sorted(p.pid for p in cluster.processes() if p.role == "jobmanager")
    started = time.monotonic()
    lk.up()
    assert time.monotonic() - started < 5
    assert sorted(p.pid for p in cluster.processes() if p.role == "jobmanager") == pids


def test_keyed_count_is_exact_and_the_job_reports_its_config(healthy_cluster):
    job = count_job("t-count", records=20_000, keys=100)
    job.wait_finished(240)
    assert job.output == healthy_cluster.settings.job_outputs_dir / "t-count"  # made by submit, named after the job
    assert kc.read_counts(job.output) == kc.expected_counts(20_000, 100)
    config = job.config()
    assert config["job-parallelism"] == 2  # the lab preset
    assert config["checkpoints.state_backend"] == "HashMapStateBackend"


def test_rocksdb_and_checkpointing_are_what_the_running_job_reports(healthy_cluster):
    job = count_job("t-rocks", records=1_000_000, keys=50, rate=2000,
                       config={**CHECKPOINTED, "state.backend.type": "rocksdb"})
    job.wait_running()
    stats = job.wait_for_checkpoints(1, timeout=90)
    config = job.config()
    assert config["checkpoints.state_backend"] == "EmbeddedRocksDBStateBackend"
    assert config["checkpoints.interval"] == 1000
    completed = stats["latest"]["completed"]
    assert completed["status"] == "COMPLETED" and completed["state_size"] > 0
    job.cancel()
    assert job.state() == "CANCELED"


def test_resubmitting_a_job_name_replaces_the_running_one(healthy_cluster):
    first = count_job("t-dup", records=10_000_000, keys=10, rate=1000)
    first.wait_running()
    second = count_job("t-dup", records=10_000_000, keys=10, rate=1000)
    assert first.state() == "CANCELED"
    running = [j for j in healthy_cluster.rest.jobs() if j["name"] == "t-dup" and j["state"] == "RUNNING"]
    assert [j["jid"] for j in running] in ([second.job_id], [])
    second.wait_running()
    second.cancel()


def test_sampled_metrics_are_plausible(healthy_cluster):
    rate = 1000  # a third or less of what the job can do here, so a busy machine still keeps the pace
    job = count_job("t-metrics", records=10_000_000, keys=100, rate=rate, config=CHECKPOINTED)
    job.wait_running()
    sampler = lk.sample(job, interval=0.5)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        frame = sampler.frame()
        # a busy share needs a span of metrics.SHARE_WINDOW_S behind it: a fast start counts 4 s of records first
        if (
            frame.get("count-per-key.numRecordsIn", pd.Series(dtype=float)).max() > 4 * rate
            and frame.get("count-per-key.busyTimeMsPerSecond", pd.Series(dtype=float)).notna().sum() >= 2
        ):
            break
        time.sleep(1)
    job.cancel()
    sampler.wait(15)
    frame = sampler.frame()
    assert not sampler.running
    measured = lk.steady_rate(frame, "count-per-key.numRecordsIn")
    # the pace is a ceiling (the throttle never runs ahead of it for long); how far below it a busy
    # shared machine leaves the job is not this test's business (in one run here: 0.52 of it)
    assert 0.2 * rate <= measured <= 1.4 * rate, measured
    busy = frame["count-per-key.busyTimeMsPerSecond"].dropna()
    assert ((busy >= 0) & (busy <= 1000)).all() and busy.max() > 0
    assert frame["tm.Status.JVM.Memory.Heap.Used"].dropna().min() > 10 * 2**20
    assert frame["job.numberOfCompletedCheckpoints"].max() >= 1


def test_savepoint_to_an_unwritable_target_fails_clearly(healthy_cluster):
    job = count_job("t-badsavepoint", records=10_000_000, keys=10, rate=1000)
    job.wait_running()
    with pytest.raises(lk.SavepointFailed) as info:
        job.savepoint("file:///proc/no-savepoints-here", timeout=60)
    assert "savepoint" in str(info.value).lower() and info.value.hint
    assert job.state() == "RUNNING"
    job.cancel()


def test_one_more_taskmanager_adds_slots_and_logs_are_readable(healthy_cluster):
    settings = healthy_cluster.settings
    slots = healthy_cluster.overview()["slots_total"]
    assert slots == settings.taskmanagers * settings.slots
    before = set(healthy_cluster.live_taskmanagers())
    healthy_cluster.start_taskmanager()
    try:
        # a TaskManager can be counted a moment before all its slots are
        overview = healthy_cluster.wait_until(lambda o: o["slots_total"] >= slots + settings.slots, 30,
                                              "the new TaskManager's slots")
        assert overview["taskmanagers"] == settings.taskmanagers + 1
        assert overview["slots_total"] == slots + settings.slots
        assert "TaskManagerRunner" in healthy_cluster.logs("taskmanager", lines=400) or \
            "TaskExecutor" in healthy_cluster.logs("taskmanager", lines=400)
        assert "Starting" in healthy_cluster.logs("jobmanager", lines=2000)
    finally:  # the later tests expect the lab's own TaskManagers
        for added in set(healthy_cluster.live_taskmanagers()) - before:
            psutil.Process(added).kill()
        healthy_cluster.wait_until(lambda o: o["taskmanagers"] == settings.taskmanagers, 60,
                                   "the added TaskManager to be gone")


def test_attached_cluster_speaks_rest_but_refuses_process_hooks(cluster):
    attached = lk.up(settings=replace(cluster.settings, rest_url=cluster.url))
    try:
        assert isinstance(attached, AttachedCluster)
        assert attached.overview()["taskmanagers"] >= 1
        with pytest.raises(lk.NotSupportedOnAttachedCluster):
            attached.kill_taskmanager()
    finally:
        lk.up()  # back to the local lab for the other tests


def test_busy_port_gives_a_clear_error(cluster, tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = replace(cluster.settings, name="busy-port", home=tmp_path, port_offset=port - 8081)
        with pytest.raises(lk.PortBusy) as info:
            LocalCluster(settings).up()
    assert str(port) in str(info.value) and "LABKIT_PORT_OFFSET" in str(info.value)
    assert not LocalCluster(settings).processes()


def test_unreachable_cluster_is_a_clear_error(cluster):
    from labkit.rest import RestClient
    with pytest.raises(lk.ClusterDown) as info:
        RestClient("http://127.0.0.1:9", timeout=2).overview()
    assert "labkit up" in str(info.value)


def test_down_stops_every_process_of_a_lab_including_python_workers_and_a_wait_says_its_job_is_gone(cluster, tmp_path):
    second = LocalCluster(replace(cluster.settings, name="second", home=tmp_path,
                                  port_offset=cluster.settings.port_offset + 10, taskmanagers=1))
    second.up()
    try:
        assert cluster.is_up() and second.is_up() and cluster.url != second.url
        job = count_job("t-second", records=10_000_000, keys=10, rate=1000)
        # process mode: Python in worker processes of that lab's own
        job_on_second = lk.submit(kc.build, name="t-second", cluster=second, config=lk.job_config("process"),
                                  records=10_000_000, keys=10, rate=1000)
        job_on_second.wait_running()
        deadline = time.monotonic() + 60
        while not any(p.role == "python-worker" for p in second.processes()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert any(p.role == "python-worker" for p in second.processes())
        # the lab stopped while a cell waits for its job: the wait says the job and its state are gone
        stopping = threading.Timer(1.0, second.down)
        stopping.start()
        with pytest.raises(ClusterDown, match="went down while waiting for job 't-second' to be finished") as gone:
            job_on_second.wait_finished(timeout=60)
        stopping.join()
        assert "resubmit" in gone.value.hint
    finally:
        second.down()
    assert second.processes() == []
    assert cluster.is_up() and job.state() == "RUNNING"  # the other lab is untouched
    job.cancel()


def test_reset_stops_a_running_lab_and_removes_its_folder(cluster, tmp_path, monkeypatch, capsys):
    offset = cluster.settings.port_offset + 20
    doomed = LocalCluster(replace(cluster.settings, name="doomed", home=tmp_path, port_offset=offset, taskmanagers=1))
    doomed.up()
    assert doomed.processes() and (tmp_path / "doomed" / "conf" / "config.yaml").exists()
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    assert cli.main(["--lab", "doomed", "--port-offset", str(offset), "reset"]) == 0
    assert doomed.processes() == [] and not (tmp_path / "doomed").exists()
    assert "lab 'doomed': stopped" in capsys.readouterr().out
    assert cluster.is_up()  # the other lab is untouched


def test_a_jobmanager_that_dies_at_start_up_fails_fast_with_its_log(cluster, tmp_path):
    offset = cluster.settings.port_offset + 30
    broken = LocalCluster(replace(cluster.settings, name="broken", home=tmp_path, port_offset=offset,
                                  jobmanager_memory="64m"))
    started = time.monotonic()
    with pytest.raises(ClusterNotReady, match="exited during start-up"):
        broken.up(timeout=120)
    assert time.monotonic() - started < 60, "it should not wait out the timeout"
    assert broken.processes() == []


def test_print_from_python_lands_in_the_taskmanager_stdout(healthy_cluster):
    from labkit.pipelines.common import sequence_source

    marker = f"hello-from-python-{time.time_ns()}"

    def build(env):
        sequence_source(env, 3).map(lambda n: f"{marker}-{n}").print()

    job = lk.submit(build, name="t-stdout", config=lk.job_config(parallelism=1))
    job.wait_finished(120)
    stdout = healthy_cluster.taskmanager_stdout(lines=200)
    assert all(f"{marker}-{n}" in stdout for n in range(3)), stdout[-500:]


def test_a_taskmanager_lost_during_an_operation_is_replaced_and_the_next_job_gets_every_slot_at_once(healthy_cluster):
    """The lost TaskManager ran a job, so the JobManager can list it for a moment after its death.
    Once the guard has replaced it, only running TaskManagers are registered, and a job that needs
    every slot runs on its first attempt: no NoResourceAvailableException, no restart."""
    slots = healthy_cluster.settings.taskmanagers * healthy_cluster.settings.slots
    victim = lk.submit(kc.build, name="t-victim", records=10**9, keys=50, rate=2000, parallelism=slots)
    victim.wait_running()
    time.sleep(2)
    before = {tm["id"] for tm in healthy_cluster.rest.taskmanagers()}
    with pytest.warns(UserWarning, match="crashed while testing the guard"):
        with healthy_cluster.replacing_lost_taskmanagers("testing the guard"):
            lost = healthy_cluster.kill_taskmanager(victim)
    alive = [p.pid for p in healthy_cluster.processes() if p.role == "taskmanager"]
    assert len(alive) == healthy_cluster.settings.taskmanagers and lost not in alive
    registered = {tm["id"] for tm in healthy_cluster.rest.taskmanagers()}
    assert len(registered) == len(before) and len(registered - before) == 1, (before, registered)  # one replaced
    assert victim.wait_terminal(60) == "FAILED"
    job = lk.submit(kc.build, name="t-after-loss", records=10**9, keys=50, rate=2000, parallelism=slots)
    job.wait_running()
    time.sleep(3)
    attempts, failures = job.attempts(), job.exceptions()
    job.cancel()
    assert [a["attempt"] for a in attempts] == [0] and failures == [], failures


def test_a_module_edited_after_the_taskmanagers_started_is_named_when_a_thread_mode_job_is_submitted(
        healthy_cluster, tmp_path, monkeypatch):
    from labkit import cluster as cluster_module
    assert healthy_cluster.modules_edited_since_start() == []  # this checkout's files predate the lab
    package = tmp_path / "labkit"
    (package / "pipelines").mkdir(parents=True)
    (package / "pipelines" / "before.py").write_text("")
    os.utime(package / "pipelines" / "before.py", (0, 0))
    (package / "pipelines" / "edited.py").write_text("")  # now: after the TaskManagers started
    monkeypatch.setattr(cluster_module, "PACKAGE_DIR", package)
    assert healthy_cluster.modules_edited_since_start() == ["labkit/pipelines/edited.py"]
    with pytest.warns(UserWarning, match=r"labkit/pipelines/edited.py changed after this lab's TaskManagers started"):
        count_job("t-edited", records=100, keys=10).wait_finished(120)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        count_job("t-edited-process", records=100, keys=10, preset="process").wait_finished(120)
    assert not [w for w in caught if "changed after this lab" in str(w.message)]  # process mode: fresh workers


def _workers_of(cluster) -> list:
    servers = [p.pid for p in cluster.processes() if p.role == "worker-server"]
    return [p for p in cluster.processes() if p.role == "python-worker" and _parent_pid(p.pid) in servers]


def _launchers_of(cluster) -> list:
    """The worker_launch.py stand-ins the lab's TaskManagers run, one per forked worker."""
    launchers = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "worker_launch.py" in " ".join(proc.info["cmdline"] or []) \
                    and proc.environ().get(LAB_MARKER) == str(cluster.settings.lab_dir):
                launchers.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return launchers


def _parent_pid(pid: int) -> int | None:
    """None for a process that exited after it was listed (the killed worker, a moment later)."""
    try:
        return psutil.Process(pid).ppid()
    except psutil.NoSuchProcess:
        return None


def test_python_workers_are_forked_from_the_worker_server_and_die_with_their_launcher(healthy_cluster):
    deadline = time.monotonic() + 30  # the workers of an earlier test's process-mode job may still be exiting
    while (_workers_of(healthy_cluster) or _launchers_of(healthy_cluster)) and time.monotonic() < deadline:
        time.sleep(0.3)
    job = count_job("t-forked", records=10**9, keys=10, rate=500, config={"parallelism": 1}, preset="process")
    job.wait_running()
    deadline = time.monotonic() + 30
    while not (forked := _workers_of(healthy_cluster)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert forked, healthy_cluster.processes()
    # it forks only while it has one thread (a lock held by another thread would hang the child)
    servers = [p for p in healthy_cluster.processes() if p.role == "worker-server"]
    assert [psutil.Process(p.pid).num_threads() for p in servers] == [1]
    launchers = _launchers_of(healthy_cluster)
    assert len(launchers) == len(forked)  # one stand-in in the TaskManager per forked worker
    victim = launchers[0]
    child_pids = {p.pid for p in forked}
    victim.kill()

    def gone() -> bool:
        return len(child_pids - {p.pid for p in _workers_of(healthy_cluster)}) >= 1

    deadline = time.monotonic() + 15
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert gone(), "a forked worker outlived the launcher that stood for it"
    job.cancel()


def test_without_the_worker_server_jobs_start_fresh_interpreters_and_up_brings_it_back(healthy_cluster):
    servers = [p.pid for p in healthy_cluster.processes() if p.role == "worker-server"]
    assert len(servers) == 1
    server = psutil.Process(servers[0])
    server.kill()
    server.wait(10)
    job = count_job("t-unforked", records=3_000, keys=7, config={"parallelism": 1}, preset="process")
    job.wait_finished(180)
    assert kc.read_counts(job.output) == kc.expected_counts(3_000, 7)
    lk.up()
    assert len([p for p in healthy_cluster.processes() if p.role == "worker-server"]) == 1
