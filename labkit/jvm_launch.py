"""How the lab's JVMs start: through the Flink distribution's scripts once, then directly.

Before the JVM it starts, a Flink start script runs three short JVMs of its own (to flatten the
configuration, to read Java's version and to work out the memory sizes): with a JobManager and
two TaskManagers starting at once on two cores, that was about 6 s of a 14 s start. What the
scripts work out depends only on the configuration, the JDK and the distribution, so after the
first start of a configuration the lab records the command line and the environment the script
gave each JVM (a launch recipe) and later starts of the same configuration run that directly.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

DAEMONS = {"jobmanager": "standalonesession", "taskmanager": "taskexecutor"}
# flags that differ from one start to the next: the class archive's (see cluster._class_sharing)
# and the TaskManager's resource id; the launcher passes this start's own
_PER_START = ("-XX:SharedArchiveFile=", "-XX:ArchiveClassesAtExit=", "-Dtaskmanager.resource-id=")
_NOT_RECORDED_ENV = ("JVM_ARGS", "SHLVL", "_")  # the start script's own, or its shell's


@dataclass(frozen=True)
class Recipe:
    argv: list[str]
    env: dict[str, str]  # what the script exported on top of the lab's own environment


def recipe_key(config_file: Path, java_home: Path, flink_home: Path, flink_version: str,
               classpath: list[str] = ()) -> str:
    """Identifies what the scripts compute from: the lab's configuration, the JDK and Flink (whose
    jars, named by version, are on the recorded class path, with the lab's ``classpath`` extras)."""
    parts = [config_file.read_text(), str(java_home), str(flink_home), flink_version, *classpath,
             os.environ.get("JVM_ARGS", ""), os.environ.get("FLINK_ENV_JAVA_OPTS", "")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _recipe_file(folder: Path, role: str, key: str) -> Path:
    return folder / f"{role}-{key}.json"


def load(folder: Path, role: str, key: str) -> Recipe | None:
    path = _recipe_file(folder, role, key)
    if not path.exists():
        return None
    recorded = json.loads(path.read_text())
    return Recipe(recorded["argv"], recorded["env"])


def record(folder: Path, role: str, key: str, pid: int, lab_env: dict) -> None:
    """Write the recipe of the running JVM ``pid``, started by its script in ``lab_env``."""
    proc = psutil.Process(pid)
    argv = [arg for arg in proc.cmdline() if not arg.startswith(_PER_START)]
    exported = {name: value for name, value in proc.environ().items()
                if lab_env.get(name) != value and name not in _NOT_RECORDED_ENV}
    folder.mkdir(parents=True, exist_ok=True)
    _recipe_file(folder, role, key).write_text(json.dumps({"argv": argv, "env": exported}, indent=1))


def launch(recipe: Recipe, role: str, *, lab_env: dict, pid_dir: Path, jvm_flags: list[str],
           args: list[str]) -> int:
    """Start the JVM as its script would: in the background (not a child of this process), its
    output in the ``.out`` file next to its log, numbered by the pid file it is appended to."""
    daemon = DAEMONS[role]
    pid_file = pid_dir / f"flink-{os.environ.get('USER', '')}-{daemon}.pid"
    number = len(pid_file.read_text().split()) if pid_file.exists() else 0
    argv = [re.sub(rf"-{daemon}-\d+-", f"-{daemon}-{number}-", arg) if arg.startswith("-Dlog.file=") else arg
            for arg in recipe.argv]
    log_file = next(arg.split("=", 1)[1] for arg in argv if arg.startswith("-Dlog.file="))
    command = [argv[0], *jvm_flags, *argv[1:], *args]
    shell = f"{shlex.join(command)} > {shlex.quote(log_file.removesuffix('.log') + '.out')} 2>&1 < /dev/null & echo $!"
    started = subprocess.run(["bash", "-c", shell], env={**lab_env, **recipe.env}, capture_output=True,
                             text=True, check=True, start_new_session=True)
    pid = int(started.stdout.split()[-1])
    with pid_file.open("a") as pids:
        pids.write(f"{pid}\n")
    return pid
