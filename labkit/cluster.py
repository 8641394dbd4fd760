"""Cluster lifecycle: the lab's own standalone session cluster, or any cluster by REST URL.

The local cluster runs the JobManager and TaskManager of the Flink distribution that ships
inside the apache-flink wheel (through its scripts the first time, see ``jvm_launch``), with the
lab's own config (:mod:`labkit.cluster_config`), log, pid, lib, checkpoint and savepoint folders.
Every process it starts carries ``LABKIT_LAB_DIR`` in its environment (the TaskManager passes it
on to its Python workers), which is how ``down`` finds (:mod:`labkit.processes`) and stops all of
them, including workers orphaned by a killed TaskManager.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import psutil

from . import jars, jvm_launch
from .cluster_config import cluster_config, write_conf_dir
from .distribution import find_java, flink_distribution, lab_python
from .errors import (
    ClusterDown,
    ClusterNotReady,
    JobNotRunning,
    KafkaDown,
    LabError,
    NotSupportedOnAttachedCluster,
    PortBusy,
    ServerError,
)
from .processes import LAB_MARKER, RESOURCE_ID, LabProcess, lab_processes, port_owner, resource_id_of, send_signal, tail
from .progress import Polling, Waiting
from .rest import Overview, RestClient
from .running_job import RunningJob
from .settings import LOOPBACK, LabSettings

# The broker's topics outlive a restart of the Flink cluster with other options.
KEPT_ACROSS_RESTARTS = ("kafka-broker",)

PACKAGE_DIR = Path(__file__).resolve().parent


def modules_edited_since(timestamp: float, package: Path | None = None) -> list[str]:
    """The Python files under ``package`` modified after ``timestamp`` (seconds since the epoch),
    relative to its parent, oldest first; ``package`` is labkit's own folder unless given."""
    package = package or PACKAGE_DIR
    edited = [(path.stat().st_mtime, path) for path in package.rglob("*.py") if path.stat().st_mtime > timestamp]
    return [str(path.relative_to(package.parent)) for _, path in sorted(edited)]


class Cluster:
    """What every cluster offers: its REST API and readiness. Fault hooks need a LocalCluster."""

    def __init__(self, settings: LabSettings):
        self.settings = settings
        self.rest = RestClient(settings.url)
        # (wall-clock s, what) of each event marked from this process: dashboards draw them
        self.events: list[tuple[float, str]] = []
        # wall-clock s of each TaskManager this process killed: the failures that follow are not a job's own
        self.kills: list[float] = []

    @property
    def url(self) -> str:
        return self.settings.url

    def mark(self, what: str, at: float | None = None) -> None:
        """Mark an event (now, or at wall-clock ``at`` s) on every plot of this cluster's jobs."""
        self.events.append((time.time() if at is None else at, what))

    @property
    def web_ui(self) -> str:
        # Inside docker-compose the REST address is the JobManager's container name, which the
        # host's browser cannot resolve: LABKIT_WEB_UI_URL says where the browser finds it.
        return (self.settings.web_ui_url or self.settings.url).rstrip("/") + "/#/overview"

    def overview(self) -> Overview:
        return self.rest.overview()

    def is_up(self) -> bool:
        try:
            self.rest.overview()
            return True
        except (ClusterDown, ServerError):
            return False

    def taskmanager_memory(self) -> dict:
        """The first TaskManager's memory as it really started (REST ``memoryConfiguration``, bytes:
        ``taskHeap``, ``managedMemory``, ``networkMemory``, ``totalProcessMemory``...)."""
        taskmanager = self.rest.taskmanagers()[0]
        return self.rest.taskmanager(taskmanager["id"])["memoryConfiguration"]

    def wait_ready(self, taskmanagers: int = 1, slots: int | None = None, timeout: float = 90) -> Overview:
        """Wait until REST answers and the expected TaskManagers have registered all their slots."""
        return self.wait_until(
            lambda o: o["taskmanagers"] >= taskmanagers and (slots is None or o["slots_total"] >= slots),
            timeout, f"{taskmanagers} TaskManager(s)" + (f" with {slots} slots" if slots else ""))

    def wait_until(self, condition, timeout: float, what: str) -> Overview:
        """Poll the cluster overview until ``condition(overview)`` holds."""
        last: Overview | str = "REST API never answered"
        with Waiting(what, timeout, headless=self.settings.headless) as wait:
            while not wait.expired:
                self._check_alive()
                try:
                    last = self.rest.overview()
                    if condition(last):
                        return last
                except (ClusterDown, ServerError):  # not listening yet, or 503 during leader election
                    pass
                wait.pause(0.25)
        raise ClusterNotReady(f"cluster at {self.url}: timed out after {timeout:.0f}s waiting for {what} "
                              f"(last overview: {last})")

    def _check_alive(self) -> None:
        """Hook for LocalCluster: fail fast when a process died during start-up."""

    def _unsupported(self, what: str):
        raise NotSupportedOnAttachedCluster(f"{what} needs the lab's local cluster; this lab is attached to {self.url}")

    def kill_taskmanager(self, job: RunningJob | None = None) -> int:
        self._unsupported("killing a TaskManager")

    def start_taskmanager(self) -> None:
        self._unsupported("starting a TaskManager")

    def kill_kafka_broker(self) -> int:
        self._unsupported("killing the Kafka broker")

    def processes(self) -> list[LabProcess]:
        return []

    def modules_edited_since_start(self) -> list[str]:
        """labkit's modules a running TaskManager may hold in an older version: none that we can tell."""
        return []

    @contextmanager
    def replacing_lost_taskmanagers(self, during: str):
        """Around an operation that may crash a TaskManager: here, nothing to watch."""
        yield

    def replace_lost_taskmanagers(self) -> None:
        """Nothing to replace on a cluster someone else runs."""

    def taskmanager_stdout(self, lines: int = 50) -> str:
        self._unsupported("reading the TaskManager's stdout file")

    def logs(self, component: str = "taskexecutor", lines: int = 80) -> str:
        self._unsupported("reading log files")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _repr_markdown_(self) -> str:
        try:
            o = self.rest.overview()
            state = (f"{o['taskmanagers']} TaskManager(s), {o['slots_available']}/{o['slots_total']} "
                     f"slots free, {o['jobs_running']} job(s) running, Flink {o['flink_version']}")
        except ClusterDown:
            state = "**down**"
        return f"Flink cluster **{self.settings.name}** at [{self.url}]({self.web_ui}): {state}"


class AttachedCluster(Cluster):
    """A cluster someone else runs (docker-compose, a classroom server): REST only."""


class LocalCluster(Cluster):
    """The lab's own JobManager + TaskManager processes on 127.0.0.1."""

    def __init__(self, settings: LabSettings):
        super().__init__(settings)
        self.dist = flink_distribution()
        self._starting = False  # while up() runs: a vanished JobManager fails fast
        self._watched: tuple[set[int], str] | None = None  # TaskManagers before a cancel, and which
        self._guarding = False

    # --- processes ----------------------------------------------------------------------
    def processes(self) -> list[LabProcess]:
        return lab_processes(self.settings.lab_dir)

    def _pids(self, role: str) -> list[int]:
        return sorted(p.pid for p in self.processes() if p.role == role)

    def modules_edited_since_start(self) -> list[str]:
        """labkit's modules edited after the oldest running TaskManager started. In thread mode a
        TaskManager's interpreter keeps the modules it imported, so its jobs would still run the
        old version of these (README, "Editing labkit while a lab runs")."""
        started = []
        for pid in self._pids("taskmanager"):
            try:
                started.append(psutil.Process(pid).create_time())
            except psutil.NoSuchProcess:
                continue
        return modules_edited_since(min(started)) if started else []

    def live_taskmanagers(self, settle_s: float = 20) -> list[int]:
        """The pids of the TaskManagers that are up, leaving out one that has crashed and is still
        exiting: it leaves the cluster at once, but its JVM takes seconds to go (longest for the
        lab's first TaskManager, which writes the class archive at exit). Waits up to ``settle_s``
        for every TaskManager process to be either registered or gone."""
        with Polling(at_most=settle_s) as settle:
            while True:
                pids = self._pids("taskmanager")
                try:
                    registered = self.rest.overview()["taskmanagers"]
                except (ClusterDown, ServerError):
                    return pids
                if registered >= len(pids) or settle.expired:
                    return pids
                settle.pause(0.25)

    def _check_alive(self) -> None:
        # By the pid the start script recorded, not by the command line: for a moment after the
        # script returns, the JobManager is still the shell that is about to exec Java.
        recorded = [int(pid) for pid_file in self.settings.pid_dir.glob("*-standalonesession.pid")
                    for pid in pid_file.read_text().split() if pid.isdigit()]
        if self._starting and not any(psutil.pid_exists(pid) for pid in recorded):
            raise ClusterNotReady("the JobManager process exited during start-up:\n"
                                  + self.logs("standalonesession", lines=15))

    # --- lifecycle ----------------------------------------------------------------------
    def up(self, timeout: float = 120, restart: bool = False) -> "LocalCluster":
        """Start the lab (or reuse it if it already runs with the same settings)."""
        java = find_java()
        wanted = cluster_config(self.settings, self.worker_python)
        running = self._pids("jobmanager")
        if running:
            if self._recorded_shape() != (wanted, self.settings.taskmanagers, self._classpath_extras()):
                if not restart:
                    raise LabError("the running lab was started with other cluster options",
                                   hint="cluster options need a restart: call up(restart=True) "
                                        "or `labkit up --restart`")
                self.down(keep=KEPT_ACROSS_RESTARTS)
            else:
                self._start_worker_server()
                for _ in range(self.settings.taskmanagers - len(self.live_taskmanagers())):
                    self.start_taskmanager()
                self.wait_ready(taskmanagers=self.settings.taskmanagers, timeout=timeout)
                return self
        self._check_ports_free()
        self._prepare_lab_dir(wanted)
        self._starting = True
        try:
            # All at once: the TaskManagers retry until the JobManager listens. The first of each role
            # records the class archive (see _class_sharing), so the others start without it once.
            scripts = [self._start_jvm("jobmanager", java=java, record_classes=True)]
            scripts += [self._start_taskmanager_jvm(java, self._new_taskmanager_id(), record_classes=(n == 0))
                        for n in range(self.settings.taskmanagers)]
            for script in filter(None, scripts):
                script.wait(timeout=60)
            self.wait_ready(taskmanagers=self.settings.taskmanagers,
                            slots=self.settings.taskmanagers * self.settings.slots, timeout=timeout)
            self._record_launch_recipes(java)
            # after the JVMs: its imports would slow their start, and a worker that comes before the
            # server is listening starts as a fresh interpreter
            self._start_worker_server()
        except BaseException:
            self.down(keep=KEPT_ACROSS_RESTARTS)
            raise
        finally:
            self._starting = False
        return self

    @property
    def worker_python(self) -> str:
        """The ``python.executable`` of this lab's jobs: forked workers (see ``worker_server.py``)
        unless ``LABKIT_FORK_WORKERS=0``, or the socket's path is too long for the system."""
        return str(self.settings.lab_dir / "bin" / "python-worker") if self._forks_workers else lab_python()

    @property
    def _forks_workers(self) -> bool:
        return self.settings.fork_workers and len(str(self._worker_socket)) < 100  # unix socket path limit

    @property
    def _worker_socket(self) -> Path:
        return self.settings.pid_dir / "worker-server.sock"

    def _start_worker_server(self) -> None:
        """The process the Python workers are forked from, and the launcher the TaskManager runs."""
        if not self._forks_workers:
            return
        pid_file = self.settings.pid_dir / "worker-server.pid"
        if pid_file.exists() and pid_file.read_text().strip() in {str(p) for p in self._pids("worker-server")}:
            return
        here = Path(__file__).resolve().parent
        launcher = Path(self.worker_python)
        launcher.parent.mkdir(parents=True, exist_ok=True)
        launcher.write_text(
            "#!/usr/bin/env bash\n"
            f"# Written by labkit: lab {self.settings.name!r} forks its Python workers "
            f"from {here / 'worker_server.py'}.\n"
            f'exec "{lab_python()}" -IS "{here / "worker_launch.py"}" "{self._worker_socket}" "{lab_python()}" "$@"\n')
        launcher.chmod(0o755)
        subprocess.run([lab_python(), "-I", str(here / "worker_server.py"), str(self._worker_socket), str(pid_file)],
                       env=self._env(find_java()), cwd=self.settings.lab_dir, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, timeout=30)

    def down(self, timeout: float = 15, keep: tuple[str, ...] = ()) -> list[int]:
        """Stop every process of this lab (JVMs, Python workers, its Kafka broker) but those whose
        role is in ``keep``; returns the pids stopped."""
        procs = [psutil.Process(p.pid) for p in self.processes() if psutil.pid_exists(p.pid) and p.role not in keep]
        for proc in procs:
            send_signal(proc, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for proc in alive:
            send_signal(proc, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
        for pid_file in self.settings.pid_dir.glob("*.pid"):
            pid_file.unlink()
        # Scratch files of processes that no longer exist (a killed TaskManager cannot remove its own).
        shutil.rmtree(self.settings.tmp_dir, ignore_errors=True)
        return [p.pid for p in procs]

    def kill_taskmanager(self, job: RunningJob | None = None) -> int:
        """SIGKILL one TaskManager, like a machine dying, together with its Python workers: one that
        runs a task of ``job`` if given (with two TaskManagers, the other may not be running it)."""
        pids = self._pids("taskmanager")
        if not pids:
            raise ClusterDown(f"lab {self.settings.name!r} has no TaskManager running")
        if job is not None:
            hosts = job.taskmanager_ids()
            pids = [pid for pid in pids if resource_id_of(pid) in hosts]
            if not pids:  # the lab runs, the job does not: no restart of the lab would help
                raise JobNotRunning(f"no TaskManager of lab {self.settings.name!r} runs a task of job {job.name!r}")
        if not self._guarding:
            self._watched = None  # killed on purpose: not a crash to repair
        tm = psutil.Process(pids[0])
        name = resource_id_of(tm.pid) or "a TaskManager"
        victims = [tm] + tm.children(recursive=True)
        for proc in victims:
            send_signal(proc, signal.SIGKILL)
        self.kills.append(time.time())
        self.mark(f"{name} killed", at=self.kills[-1])
        psutil.wait_procs(victims, timeout=10)
        return tm.pid

    def kill_kafka_broker(self) -> int:
        """SIGKILL the lab's Kafka broker, like the machine of a broker dying: a fault, like a
        TaskManager's kill, so a wait reads the failures that follow as its. ``lk.kafka_broker()``
        (or ``labkit up --kafka``) starts it again, with its topics."""
        pids = [p.pid for p in self.processes() if p.role == "kafka-broker"]
        if not pids:
            raise KafkaDown(f"lab {self.settings.name!r} runs no Kafka broker")
        broker = psutil.Process(pids[0])
        send_signal(broker, signal.SIGKILL)
        self.kills.append(time.time())
        self.mark("Kafka broker killed", at=self.kills[-1])
        psutil.wait_procs([broker], timeout=10)
        return broker.pid

    @contextmanager
    def replacing_lost_taskmanagers(self, during: str):
        """Replace any TaskManager that dies during the block, or after it until the next job is
        submitted (the crash can come a moment after the job reports CANCELED)."""
        self.replace_lost_taskmanagers()
        self._watched = (set(self._pids("taskmanager")), during)
        self._guarding = True
        try:
            yield
        finally:
            self._guarding = False
        self.replace_lost_taskmanagers(keep_watching=True)

    def replace_lost_taskmanagers(self, keep_watching: bool = False) -> None:
        """Start a replacement for every TaskManager lost since the last guarded operation."""
        if self._watched is None:
            return
        before, during = self._watched
        alive = set(self.live_taskmanagers())
        lost = sorted(before - alive)
        # as many as are missing: someone (another handle on this lab, a test) may have replaced one already
        for _ in range(len(before) - len(alive)):
            warnings.warn(f"the TaskManager (pid {', '.join(map(str, lost))}) crashed while {during}: a known "
                          "PyFlink 2.3 bug (AbstractExternalPythonFunctionOperator.close: 'Reference count must "
                          "not be negative'). labkit started a replacement.", stacklevel=4)
            self.start_taskmanager()
        self._watched = (set(self._pids("taskmanager")), during) if keep_watching else None

    def start_taskmanager(self, wait: bool = True, timeout: float = 90) -> None:
        """Start one more TaskManager (a replacement after a kill, or a second one to scale out);
        with ``wait``, until it is registered and no stopped TaskManager still is."""
        resource_id = self._new_taskmanager_id()
        self.mark(f"{resource_id} started")
        script = self._start_taskmanager_jvm(find_java(), resource_id)
        if script:
            script.wait(timeout=60)
        if wait:
            # A killed TaskManager can stay registered, slots and all, until its heartbeats fail. A
            # job submitted meanwhile that needs the replacement's slots finds none, and on a
            # standalone cluster that fails it at once (NoResourceAvailableException): a restart.
            def only_running_ones_registered(_overview) -> bool:
                registered = {tm["id"] for tm in self.rest.taskmanagers()}
                running = {resource_id_of(pid) for pid in self._pids("taskmanager")}
                return resource_id in registered and registered <= running
            self.wait_until(only_running_ones_registered, timeout,
                            f"TaskManager {resource_id} registered, and no stopped one")

    def _new_taskmanager_id(self) -> str:
        """``tm-1``, ``tm-2``, ...: each TaskManager's resource id (in the Web UI and the REST API),
        also on its command line, which is how ``kill_taskmanager(job)`` finds its pid."""
        counter = self.settings.pid_dir / "taskmanagers-started"
        number = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(number))
        return f"tm-{number}"

    def _start_taskmanager_jvm(self, java, resource_id: str, record_classes: bool = False) -> subprocess.Popen | None:
        return self._start_jvm("taskmanager", f"-D{RESOURCE_ID}={resource_id}", java=java,
                               record_classes=record_classes)

    # --- logs ---------------------------------------------------------------------------
    def _log_files(self, component: str, suffix: str) -> list[Path]:
        files = self.settings.log_dir.glob(f"flink-*-{component}-*{suffix}")
        return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)

    def logs(self, component: str = "taskexecutor", lines: int = 80) -> str:
        """The last ``lines`` of the log of ``standalonesession`` (the JobManager), or of each
        ``taskexecutor`` (TaskManager) log, oldest first: a job's tasks may run in any of them."""
        component = {"jobmanager": "standalonesession", "taskmanager": "taskexecutor"}.get(component, component)
        files = self._log_files(component, ".log")
        if not files:
            return f"(no {component} log in {self.settings.log_dir})"
        if len(files) == 1:
            return tail(files[0], lines)
        return "".join(f"==> {f.name} <==\n{tail(f, lines)}" for f in reversed(files))

    def taskmanager_stdout(self, lines: int = 50) -> str:
        """What Python ``print()`` in UDFs and ``DataStream.print()`` wrote (the ``.out`` file)."""
        files = self._log_files("taskexecutor", ".out")
        return "".join(tail(f, lines) for f in reversed(files)) if files else ""

    # --- internals ----------------------------------------------------------------------
    def _env(self, java) -> dict:
        env = dict(os.environ)
        s = self.settings
        env.update({
            LAB_MARKER: str(s.lab_dir),
            "FLINK_CONF_DIR": str(s.conf_dir), "FLINK_LOG_DIR": str(s.log_dir),
            "FLINK_PID_DIR": str(s.pid_dir), "FLINK_LIB_DIR": str(s.lib_dir),
            "JAVA_HOME": str(java.home), "TMPDIR": str(s.tmp_dir),
            # Python workers are started by the TaskManager; they must find this venv first.
            "PATH": f"{Path(lab_python()).parent}{os.pathsep}{env.get('PATH', '')}",
        })
        env.pop("FLINK_HOME", None)
        return env

    def _start_jvm(self, role: str, *args: str, java, record_classes: bool = False) -> subprocess.Popen | None:
        """Start a JobManager or a TaskManager: directly if this configuration has a launch recipe
        (see ``jvm_launch``), else through its script, which is returned to be waited for."""
        env = self._env(java)
        sharing = self._class_sharing(role, java, record_classes)
        recipe = jvm_launch.load(self._recipes, role, self._recipe_key(java))
        if recipe:
            jvm_launch.launch(recipe, role, lab_env=env, pid_dir=self.settings.pid_dir,
                              jvm_flags=[sharing] if sharing else [], args=list(args))
            return None
        if sharing:
            env["JVM_ARGS"] = f"{env.get('JVM_ARGS', '')} {sharing}".strip()
        return subprocess.Popen(["bash", str(self.dist.bin / f"{role}.sh"), "start", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    @property
    def _recipes(self) -> Path:
        return self.settings.lab_dir / "launch"

    def _recipe_key(self, java) -> str:
        return jvm_launch.recipe_key(self.settings.conf_dir / "config.yaml", java.home, self.dist.home,
                                     self.dist.version, classpath=self._classpath_extras())

    def _record_launch_recipes(self, java) -> None:
        key = self._recipe_key(java)
        for role in jvm_launch.DAEMONS:
            pids = self._pids(role)
            if pids and jvm_launch.load(self._recipes, role, key) is None:
                try:
                    jvm_launch.record(self._recipes, role, key, pids[0], self._env(java))
                except psutil.Error:
                    pass  # gone already: the next start goes through the script again

    def _class_sharing(self, role: str, java, record: bool) -> str | None:
        """JVM flags that load Flink's classes from an archive the lab's first JVM of this role wrote
        when it stopped (class data sharing): parsing and verifying them is much of a JVM's start.
        A JVM that finds the archive unusable (another JDK or Flink) warns and loads them as usual."""
        archive = self.settings.lab_dir / "cds" / f"{role}-flink{self.dist.version}-java{java.version}.jsa"
        if archive.exists():
            return f"-XX:SharedArchiveFile={archive}"
        if record:
            archive.parent.mkdir(parents=True, exist_ok=True)
            return f"-XX:ArchiveClassesAtExit={archive}"
        return None

    def _recorded_shape(self) -> tuple[dict, int, list[str]] | None:
        """The cluster options, the number of TaskManagers and the extra jars the running lab was
        started with."""
        path = self.settings.lab_dir / "lab.json"
        if not path.exists():
            return None
        recorded = json.loads(path.read_text())
        return recorded["cluster_config"], recorded.get("taskmanagers", 1), recorded.get("classpath_extras", [])

    def _classpath_extras(self) -> list[str]:
        return [jar.name for jar in self._connector_jars()]

    def _prepare_lab_dir(self, config: dict) -> None:
        s = self.settings
        for folder in (s.conf_dir, s.log_dir, s.pid_dir, s.lib_dir, s.checkpoint_dir,
                       s.savepoint_dir, s.rocksdb_dir, s.job_outputs_dir, s.data_dir, s.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for stale in [*s.pid_dir.glob("*.pid"), s.pid_dir / "taskmanagers-started"]:
            stale.unlink(missing_ok=True)
        write_conf_dir(s.conf_dir, self.dist, config)
        # The cluster's lib: the wheel's jars plus flink-python, so Python jobs need no extra jars
        # and thread mode works for more than one job per TaskManager.
        for link in s.lib_dir.iterdir():
            link.unlink()
        for jar in [*self.dist.lib.glob("*.jar"), self.dist.python_jar, *self._connector_jars()]:
            (s.lib_dir / jar.name).symlink_to(jar)
        (s.lab_dir / "lab.json").write_text(json.dumps(
            {"name": s.name, "rest_url": s.url, "taskmanagers": s.taskmanagers, "cluster_config": config,
             "classpath_extras": self._classpath_extras()},
            indent=2, default=str))

    @staticmethod
    def _connector_jars() -> list[Path]:
        """The Kafka connector, when `labkit jars` has resolved it: on the cluster's class path, the
        jobs need not ship it (chapter 07's Kafka sections and the Kafka tests)."""
        return jars.verified(jars.CONNECTOR)

    def _check_ports_free(self) -> None:
        for port, what in ((self.settings.rest_port, "REST/Web UI"), (self.settings.rpc_port, "JobManager RPC")):
            owner = port_owner(port)
            if owner is not None:
                raise PortBusy(f"port {port} ({what}) on {LOOPBACK} is already in use by {owner}")


def make_cluster(settings: LabSettings) -> Cluster:
    """The cluster ``settings`` describe: attached by URL, or the lab's own local one."""
    return AttachedCluster(settings) if settings.attached else LocalCluster(settings)
