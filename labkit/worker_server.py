"""Starts the lab's Python workers by forking a process that has already imported PyFlink.

In process mode every Python operator of every job gets a worker process of its own, and a fresh
interpreter spends seconds importing Apache Beam, PyFlink and pandas before it processes a
record; on a 2-core machine several workers starting at once turn that into most of a short job's
run. This server imports them once; ``worker_launch.py``, which the TaskManager runs as its
``python.executable``, hands it the worker's command line, environment and standard streams, and
the server forks a child that runs the worker exactly as the interpreter would have.

The child is an ordinary worker process of the lab: it inherits the lab's marker (``labkit down``
stops it), exits when the launcher that stands for it in the TaskManager dies, and its exit code
goes back to the launcher. Run by path (``python -I worker_server.py SOCKET PIDFILE``), importing
nothing of labkit (the workers must not carry the notebook-side package); it detaches from the
process that started it, like the cluster's JVMs, and records its pid in PIDFILE.
"""
import json
import os
import runpy
import signal
import socket
import struct
import sys
import threading
import traceback

# What a worker imports before it can run a record: imported here once, shared by every fork.
PRELOAD = (
    "pyflink.fn_execution.beam.beam_boot",
    "pyflink.fn_execution.beam.beam_sdk_worker_main",
    "pyflink.fn_execution.beam.beam_operations",
    "pyflink.fn_execution.beam.beam_coders",
    "pyflink.fn_execution.datastream.operations",
    "pyflink.fn_execution.datastream.process.operations",
    "pyflink.fn_execution.flink_fn_execution_pb2",
    "pyflink.datastream",
    "apache_beam.runners.worker.sdk_worker",
    "apache_beam.runners.worker.sdk_worker_main",
    "cloudpickle",
)
WORKER_MODULE = "pyflink.fn_execution.beam.beam_boot"
# Forking is safe only from a process with one thread: a fork copies only the thread that calls
# it, so a lock another thread held stays locked in the child forever (a worker that hangs before
# its first record was seen once in a few thousand forks). Native libraries start threads when
# imported: pyarrow's jemalloc a background thread, OpenBLAS (numpy) one per core. These settings,
# made before the imports, keep them from starting.
SINGLE_THREADED_IMPORTS = {"JE_ARROW_MALLOC_CONF": "background_thread:false", "OPENBLAS_NUM_THREADS": "1",
                           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _threads() -> int:
    """This process's threads, native ones included; 0 where /proc does not tell (then it never forks)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _preload() -> None:
    for name, value in SINGLE_THREADED_IMPORTS.items():
        os.environ.setdefault(name, value)
    for module in PRELOAD:
        try:
            __import__(module)
        except Exception:  # a module a future PyFlink moved: the worker imports what it needs itself
            pass


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, 4, 3)
    (length,) = struct.unpack("!I", header)
    body = b""
    while len(body) < length:
        chunk = conn.recv(min(65536, length - len(body)))
        if not chunk:
            raise ConnectionError("the launcher hung up mid-request")
        body += chunk
    return json.loads(body), fds


def _exit_when_launcher_dies(conn: socket.socket) -> None:
    # The launcher never writes after its request: a read returns only when it is gone.
    try:
        conn.recv(1)
    finally:
        os._exit(1)


def _run_worker(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the worker the launcher was asked to start."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # PYTHONPATH was read when this interpreter started: add what the TaskManager gives this worker.
    for entry in reversed(request["env"].get("PYTHONPATH", "").split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    conn.sendall(struct.pack("!i", os.getpid()))
    threading.Thread(target=_exit_when_launcher_dies, args=(conn,), daemon=True).start()
    module, args = request["module"], request["args"]
    sys.argv = [module, *args]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        conn.sendall(struct.pack("!i", code))
    finally:
        os._exit(code)


def serve(path: str, pid_file: str) -> None:
    if os.fork():  # detached: the notebook kernel that started the lab may go before the lab does
        os._exit(0)
    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # only this user may ask for a worker: it runs what the request says
    try:
        listener.bind(path)
    finally:
        os.umask(previous)
    listener.listen(64)
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        conn, _ = listener.accept()
        try:
            request, fds = _receive(conn)
        except (OSError, ValueError, ConnectionError, struct.error):
            conn.close()
            continue
        # a fork of this process runs nothing else, and only while it has no other thread: the
        # launcher, refused, starts a fresh interpreter instead
        if request.get("module") != WORKER_MODULE or _threads() != 1:
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        if os.fork() == 0:
            listener.close()
            _run_worker(conn, request, fds)
        conn.close()
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
