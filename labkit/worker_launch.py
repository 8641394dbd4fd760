"""The ``python.executable`` of the lab's TaskManagers: a Python worker from the fork server.

Called as ``python -IS worker_launch.py SOCKET PYTHON <the worker's arguments>``. When the
arguments start the PyFlink worker (``-m pyflink.fn_execution.beam.beam_boot ...``) and the lab's
fork server (``worker_server.py``) answers, the worker is forked there and this process stands
for it: signals go to it, its exit code comes back. Anything else, or no server, runs ``PYTHON``
itself, exactly as without the lab. Standard library only: it starts for every worker.
"""
import json
import os
import signal
import socket
import struct
import sys

WORKER_MODULE = "pyflink.fn_execution.beam.beam_boot"


def _receive_int(conn: socket.socket) -> int | None:
    data = b""
    while len(data) < 4:
        try:
            chunk = conn.recv(4 - len(data))
        except InterruptedError:
            continue
        if not chunk:
            return None
        data += chunk
    return struct.unpack("!i", data)[0]


def _forked_worker(path: str, module: str, args: list[str]) -> int | None:
    """The exit code of the worker forked by the server at ``path``; None if no server answered."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    body = json.dumps({"module": module, "args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(conn, [struct.pack("!I", len(body))], [0, 1, 2])
    conn.sendall(body)
    pid = _receive_int(conn)
    if pid is None:
        return None
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
    code = _receive_int(conn)
    return 1 if code is None else code


def main(argv: list[str]) -> None:
    path, python, *args = argv
    if len(args) >= 2 and args[0] == "-m" and args[1] == WORKER_MODULE:
        code = _forked_worker(path, args[1], args[2:])
        if code is not None:
            sys.exit(code)
    os.execv(python, [python, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
