"""Where a lab lives and which ports it uses. Environment variables override every default; a
process reads them once, at its entry point (the ``labkit`` command, or a kernel's first use of the
lab: :mod:`labkit.current_lab`), into one :class:`LabSettings` that is passed along from there.

LABKIT_REST_URL      attach to an already running cluster (e.g. docker-compose) instead of
                     starting one; fault hooks that need local processes are then unavailable.
LABKIT_KAFKA_BOOTSTRAP  a Kafka broker to use instead of the lab's own (docker-compose: kafka:29092)
LABKIT_HOME          parent folder of all labs (default ~/.flink-state-lab)
LABKIT_LAB           lab name, one folder and one cluster per name (default "default")
LABKIT_PORT_OFFSET   added to every fixed port, so several labs run side by side
LABKIT_TASKMANAGERS  TaskManagers the lab starts (default 2: one Python interpreter each in thread mode)
LABKIT_SLOTS         task slots per TaskManager (default 2)
LABKIT_FORK_WORKERS  0: start every Python worker as a fresh interpreter instead of forking it
                     from a process that has imported PyFlink (labkit/worker_server.py)

How this process runs the chapters (``labkit run`` and ``regress`` set the first and the last for
the kernel they start: :func:`headless_run_environment`):
LABKIT_HEADLESS      1: no one is watching; dashboards draw final figures instead of live widgets
LABKIT_SIZE          the size every chapter runs at, whatever its parameters cell says (nbval runs)
LABKIT_METRICS_DIR   where each job's sampled metrics are kept as CSV (a regression run's folder)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import BadName, LabError, OutsideLab

BASE_REST_PORT = 8081
BASE_RPC_PORT = 6123
LOOPBACK = "127.0.0.1"
SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def safe_name(name: str, what: str = "lab name") -> str:
    """``name`` if it can only ever be one folder's name (no '..', '/', '~' or spaces)."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise BadName(f"{what} {name!r} is not allowed")
    return name


def inside(root: Path, path: Path) -> Path:
    """``path``, resolved, if it lies strictly inside ``root``: what labkit writes or deletes."""
    root, resolved = Path(root).resolve(), Path(path).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise OutsideLab(f"{path} is not inside {root}")
    return resolved


def _env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "")
    return raw.lower() in ("1", "true", "yes") if raw else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise LabError(f"{name}={raw!r} is not a whole number", hint=f"unset {name} or give it a number") from None


@dataclass(frozen=True)
class LabSettings:
    name: str = "default"
    home: Path = Path.home() / ".flink-state-lab"
    port_offset: int = 0
    taskmanagers: int = 2
    slots: int = 2
    taskmanager_memory: str = "1728m"
    jobmanager_memory: str = "1024m"
    rest_url: str | None = None
    web_ui_url: str | None = None   # the Web UI as a browser reaches it, when that is not rest_url
    kafka_bootstrap: str | None = None  # a broker someone else runs (docker-compose), not the lab's own
    extra_config: dict = field(default_factory=dict)
    fork_workers: bool = True       # Python workers forked from a process that imported PyFlink
    # how this process runs the chapters, not the cluster:
    headless: bool = False          # no one watching (papermill and CI runs): dashboards draw no widgets
    size: str | None = None         # the size every chapter runs at, whatever its parameters cell says
    metrics_dir: Path | None = None  # where a regression run keeps each job's sampled metrics

    def __post_init__(self):
        safe_name(self.name)

    @classmethod
    def from_env(cls, **overrides) -> "LabSettings":
        settings = cls(
            name=os.environ.get("LABKIT_LAB", "default"),
            home=Path(os.environ.get("LABKIT_HOME", str(Path.home() / ".flink-state-lab"))),
            port_offset=_env_int("LABKIT_PORT_OFFSET", 0),
            taskmanagers=_env_int("LABKIT_TASKMANAGERS", 2),
            slots=_env_int("LABKIT_SLOTS", 2),
            fork_workers=_env_flag("LABKIT_FORK_WORKERS", default=True),
            rest_url=os.environ.get("LABKIT_REST_URL") or None,
            web_ui_url=os.environ.get("LABKIT_WEB_UI_URL") or None,
            kafka_bootstrap=os.environ.get("LABKIT_KAFKA_BOOTSTRAP") or None,
            headless=_env_flag("LABKIT_HEADLESS"),
            size=os.environ.get("LABKIT_SIZE") or None,
            metrics_dir=Path(os.environ["LABKIT_METRICS_DIR"]) if os.environ.get("LABKIT_METRICS_DIR") else None,
        )
        return settings.overridden(**overrides)

    def overridden(self, **overrides) -> "LabSettings":
        """These settings with each override that is not None (a command-line option left out is None)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def attached(self) -> bool:
        return self.rest_url is not None

    @property
    def lab_dir(self) -> Path:
        return self.home / self.name

    @property
    def rest_port(self) -> int:
        return BASE_REST_PORT + self.port_offset

    @property
    def rpc_port(self) -> int:
        return BASE_RPC_PORT + self.port_offset

    @property
    def url(self) -> str:
        return self.rest_url.rstrip("/") if self.rest_url else f"http://{LOOPBACK}:{self.rest_port}"

    # The lab's folders: one place for everything a learner may want to look at or delete.
    @property
    def conf_dir(self) -> Path:
        return self.lab_dir / "conf"

    @property
    def log_dir(self) -> Path:
        return self.lab_dir / "log"

    @property
    def pid_dir(self) -> Path:
        """The running lab's pid files, its worker server's socket, its TaskManager counter."""
        return self.lab_dir / "run"

    @property
    def lib_dir(self) -> Path:
        return self.lab_dir / "lib"

    @property
    def checkpoint_dir(self) -> Path:
        return self.lab_dir / "checkpoints"

    @property
    def savepoint_dir(self) -> Path:
        return self.lab_dir / "savepoints"

    @property
    def rocksdb_dir(self) -> Path:
        return self.lab_dir / "rocksdb"

    @property
    def job_outputs_dir(self) -> Path:
        """The folder of every job's own output folder (:func:`labkit.outputs.output_dir`)."""
        return self.lab_dir / "output"

    @property
    def data_dir(self) -> Path:
        return self.lab_dir / "data"

    @property
    def tmp_dir(self) -> Path:
        """Where the cluster's JVMs and Python workers put scratch files (Flink's default is /tmp)."""
        return self.lab_dir / "tmp"


def headless_run_environment(metrics_dir: Path) -> dict[str, str]:
    """The variables a headless run (``labkit run``, ``regress``) adds to the environment of the
    kernel it starts: no one is watching, and each job's sampled metrics go to ``metrics_dir``.
    The kernel reads them with the rest, once, in :meth:`LabSettings.from_env`."""
    return {"LABKIT_HEADLESS": "1", "LABKIT_METRICS_DIR": str(metrics_dir)}
