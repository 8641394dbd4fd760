"""Finding the lab's processes on this machine: which ones are its own, what each one is, who holds
a port, and the end of a log one of them wrote.

Every process a lab starts carries ``LAB_MARKER`` (the lab's folder) in its environment, and the
TaskManager passes it on to its Python workers: that is how a lab's processes are found, including
workers orphaned by a killed TaskManager.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from .settings import LOOPBACK

LAB_MARKER = "LABKIT_LAB_DIR"
BROKER_MAIN_CLASS = "kafka.Kafka"  # the Kafka broker's entry point, as on its command line
RESOURCE_ID = "taskmanager.resource-id"


@dataclass(frozen=True)
class LabProcess:
    pid: int
    role: str  # jobmanager | taskmanager | python-worker | worker-server | kafka-broker | other

    @property
    def rss_bytes(self) -> int:
        try:
            return psutil.Process(self.pid).memory_info().rss
        except psutil.NoSuchProcess:
            return 0


def lab_processes(lab_dir: Path) -> list[LabProcess]:
    """Every process (but this one) that carries the marker of the lab in ``lab_dir``."""
    marker = str(lab_dir)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid == os.getpid() or proc.environ().get(LAB_MARKER) != marker:
                continue
            found.append(LabProcess(proc.pid, role_of(proc.info["cmdline"] or [], _parent_cmdline(proc))))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def role_of(cmdline: list[str], parent_cmdline: list[str] = ()) -> str:
    """What a lab process is, from its command line (and its parent's: a forked worker's is the server's)."""
    joined = " ".join(cmdline)
    if "worker_server.py" in joined:  # the server, or a worker forked from it
        return "python-worker" if "worker_server.py" in " ".join(parent_cmdline) else "worker-server"
    if "StandaloneSessionClusterEntrypoint" in joined:
        return "jobmanager"
    if "TaskManagerRunner" in joined:
        return "taskmanager"
    if BROKER_MAIN_CLASS in cmdline:
        return "kafka-broker"
    if "python" in (cmdline[0] if cmdline else "") or "beam_boot" in joined or "pyflink" in joined:
        return "python-worker"
    return "other"


def resource_id_of(pid: int) -> str | None:
    """The ``taskmanager.resource-id`` a lab TaskManager was started with (its REST id)."""
    try:
        for arg in psutil.Process(pid).cmdline():
            if arg.startswith(f"-D{RESOURCE_ID}="):
                return arg.split("=", 1)[1]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        pass
    return None


def _parent_cmdline(proc: psutil.Process) -> list[str]:
    try:
        parent = proc.parent()
        return parent.cmdline() if parent else []
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def send_signal(proc: psutil.Process, sig: int) -> None:
    """Signal ``proc``; one that is gone already, or not ours to signal, is left alone."""
    try:
        proc.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass


def port_owner(port: int) -> str | None:
    """None if ``port`` is free on loopback, else a description of who holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
            return None
        except OSError:
            pass
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                lab = proc.environ().get(LAB_MARKER)
                return f"pid {conn.pid} ({proc.name()}" + (f", lab {Path(lab).name!r})" if lab else ")")
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return "another process"


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log file, read from its end."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 200 * lines))
        text = handle.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:]) + "\n"
