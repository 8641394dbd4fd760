"""Launch recipes: a recorded JVM command line runs again as Flink's start script would have run it
(numbered log and output files, the pid file, the script's environment), with this start's own flags.
No cluster: the recorded "JVM" here is a Python interpreter that prints what it was given."""
import os
import subprocess
import sys
import time

import psutil

from labkit import jvm_launch

ECHO = "import os, sys; print(sys.argv[1:], os.environ.get('FLINK_BIN_DIR'))"


def wait_for_output(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.read_text()


def test_a_recorded_command_runs_again_numbered_like_the_script_with_this_starts_arguments(tmp_path):
    log = tmp_path / "log" / "flink--taskexecutor-0-vm.log"
    log.parent.mkdir()
    recipe = jvm_launch.Recipe([sys.executable, "-c", ECHO, f"-Dlog.file={log}"], {"FLINK_BIN_DIR": "/flink/bin"})
    pids = [jvm_launch.launch(recipe, "taskmanager", lab_env=dict(os.environ), pid_dir=tmp_path, jvm_flags=[],
                              args=[f"-Dtaskmanager.resource-id=tm-{n}"]) for n in (1, 2)]
    pid_file = tmp_path / f"flink-{os.environ.get('USER', '')}-taskexecutor.pid"
    assert pid_file.read_text().split() == [str(p) for p in pids]
    first = wait_for_output(tmp_path / "log" / "flink--taskexecutor-0-vm.out")
    second = wait_for_output(tmp_path / "log" / "flink--taskexecutor-1-vm.out")
    assert first.strip() == f"['-Dlog.file={log}', '-Dtaskmanager.resource-id=tm-1'] /flink/bin"
    second_log = str(log).replace("-0-", "-1-")
    assert second.strip() == f"['-Dlog.file={second_log}', '-Dtaskmanager.resource-id=tm-2'] /flink/bin"
    assert not set(pids) & {child.pid for child in psutil.Process().children(recursive=True)}


def test_recording_keeps_the_scripts_arguments_and_environment_but_not_this_starts_own(tmp_path):
    lab_env = {"PATH": os.environ["PATH"], "LABKIT_LAB_DIR": str(tmp_path)}
    script_env = {**lab_env, "FLINK_BIN_DIR": "/flink/bin", "JVM_ARGS": "-XX:SharedArchiveFile=/a.jsa"}
    command = [sys.executable, "-c", "import time; time.sleep(30)", "-XX:SharedArchiveFile=/a.jsa", "-Xmx512m",
               "-Dtaskmanager.resource-id=tm-1"]
    proc = subprocess.Popen(command, env=script_env)
    try:
        time.sleep(0.3)
        jvm_launch.record(tmp_path, "taskmanager", "k1", proc.pid, lab_env)
    finally:
        proc.kill()
        proc.wait()
    recipe = jvm_launch.load(tmp_path, "taskmanager", "k1")
    assert recipe.argv == [sys.executable, "-c", "import time; time.sleep(30)", "-Xmx512m"]
    assert recipe.env == {"FLINK_BIN_DIR": "/flink/bin"}
    assert jvm_launch.load(tmp_path, "taskmanager", "other-configuration") is None
    assert jvm_launch.load(tmp_path, "jobmanager", "k1") is None
