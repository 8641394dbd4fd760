"""Running chapter notebooks headless (CI, regression runs, `make lab-headless`).

A chapter runs cell by cell in a fresh kernel. Just before its first exercise, the student copy's
version of that cell runs in the same kernel: every cell before it is the same in both copies, so
the kernel is exactly where a learner's would be, and the run proves that a student copy stops
there with the learner's message without executing the chapter a second time.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from .chapters import NOTEBOOKS, find_chapter
from .errors import LabError, RunInterrupted
from .settings import headless_run_environment
from .student import first_exercise

# No cell of a chapter should run longer than this at each size: a stuck job fails the run
# with a message instead of hanging it.
CELL_TIMEOUT_S = {"ci": 300, "learner": 900}
# A progress line before a cell when the chapter enters a new section, else at most this often.
PROGRESS_EVERY_S = 15


def _heading(cell) -> str | None:
    """The last heading of a markdown cell ("2 · A first stateful job"), or None."""
    if cell.cell_type != "markdown":
        return None
    headings, fenced = [], False
    for line in cell.source.splitlines():
        fenced ^= line.startswith("```")
        if line.startswith("#") and not fenced:
            headings.append(line.lstrip("#").strip())
    return headings[-1] if headings else None


def _error_text(outputs: list) -> tuple[str, list[str]]:
    """(ename: evalue, traceback lines) of a cell's error output, or ("", [])."""
    for output in outputs:
        if output.get("output_type") == "error":
            return f"{output['ename']}: {output['evalue']}", list(output.get("traceback", []))
    return "", []


def _stop_of_student_copy(client, cell, index: int, exercise: str, source: str) -> dict:
    """Run the student copy's version of ``cell`` and say how it stopped."""
    import nbformat
    from nbclient.exceptions import CellExecutionError

    probe = nbformat.from_dict(cell)
    probe.source, probe.outputs = source, []
    try:
        client.execute_cell(probe, index)
    except CellExecutionError:
        pass
    error, traceback = _error_text(probe.outputs)
    expected = f"ExerciseNotDone: exercise {exercise} is not answered yet"
    return {"exercise": exercise, "cell": index, "error": error, "shown": traceback,
            "ok": error.startswith(expected) and len(traceback) <= 2}


def _printed_by(cell, lines: int = 5) -> str:
    """The last lines a failed cell printed: a claim's assertion fails beside the values it measured."""
    printed = "".join(output.get("text", "") for output in cell.get("outputs", [])
                      if output.get("output_type") == "stream" and output.get("name") == "stdout")
    tail = printed.strip().splitlines()[-lines:]
    return "".join(f"\n  printed: {line}" for line in tail)


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt  # SIGTERM stops a run as Ctrl-C does: through the same cleanup


def _cancel_jobs_started_since(started_ms: float) -> list[str]:
    """Cancel the lab's jobs started at or after ``started_ms`` that still run: the chapter's."""
    from .cluster import make_cluster
    from .current_lab import lab_settings
    from .errors import ClusterDown
    from .rest import TERMINAL_JOB_STATES
    try:
        rest = make_cluster(lab_settings()).rest
        running = [job for job in rest.jobs()
                   if job["start_time"] >= started_ms and job["state"] not in TERMINAL_JOB_STATES]
        for job in running:
            rest.cancel(job["jid"])
    except ClusterDown:
        return []  # no cluster, no job left running
    return [job["name"] for job in running]


def run_chapter(name: str, size: str = "ci", out_dir: Path = Path("runs"), cell_timeout: int | None = None,
                folder: Path = NOTEBOOKS) -> dict:
    """Execute a chapter (from ``folder``: the solutions, or a folder of student copies); write the
    executed notebook, its dashboards' metrics (CSV, in ``out_dir/<chapter>``) and a JSON record with
    each cell's duration and, for a chapter with solutions, where its student copy stops
    (``student_stop``). Raises LabError if a cell fails, a cell runs past ``cell_timeout``, or the
    student copy would not stop at its first exercise with the learner's message."""
    import nbformat
    import zmq
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    cell_timeout = cell_timeout or CELL_TIMEOUT_S.get(size, max(CELL_TIMEOUT_S.values()))
    notebook = find_chapter(name, folder)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    record = {"chapter": notebook.stem, "size": size, "executed": str(executed), "cells": []}

    nb = parameterize_notebook(load_notebook_node(str(notebook)), {"size": size},
                               kernel_name="python3", language="python")
    exercise = first_exercise(nb)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})

    code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    section, shown, printed_at = "", None, float("-inf")

    # The kernel's settings, handed over here, in its environment: it reads them once (current_lab).
    kernel_env = {**os.environ, **headless_run_environment(metrics_dir=out_dir / notebook.stem)}
    started, started_ms, index = time.monotonic(), time.time() * 1000, None
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        # CurveZMQ keys for the kernel's sockets (the kernel spec declares support): without them
        # ipykernel warns on every run that its TCP transport is unencrypted.
        with client.setup_kernel(env=kernel_env, transport_encryption="auto" if zmq.has("curve") else "disabled"):
            client.wait_for_reply(client.kc.kernel_info())
            for index, cell in enumerate(nb.cells):
                section = _heading(cell) or section
                if cell.cell_type != "code":
                    continue
                now = time.monotonic()
                if section != shown or now - printed_at >= PROGRESS_EVERY_S:
                    elapsed = int(now - started)
                    print(f"  {notebook.stem}  {elapsed // 60}:{elapsed % 60:02d}  "
                          f"cell {len(record['cells']) + 1} of {code_cells}" + (f"  {section}" if section else ""),
                          flush=True)
                    shown, printed_at = section, now
                if exercise and index == exercise[0]:
                    record["student_stop"] = _stop_of_student_copy(client, cell, index, *exercise[1:])
                cell_started = time.monotonic()
                client.execute_cell(cell, index)
                record["cells"].append({"cell": index, "execution_count": cell.execution_count,
                                        "seconds": round(time.monotonic() - cell_started, 1)})
            client.set_widgets_metadata()
        stop = record.get("student_stop")
        if stop and not stop["ok"]:
            record.update(status="failed", cell=stop["cell"],
                          error=f"the student copy does not stop at exercise {stop['exercise']} with the learner's "
                                f"message; it showed: {stop['error'] or 'no error'}")
        else:
            record["status"] = "passed"
    except CellExecutionError as exc:
        record.update(status="failed", error=f"{exc.ename}: {exc.evalue}".strip() + _printed_by(nb.cells[index]),
                      cell=nb.cells[index].get("execution_count"))
    except CellTimeoutError:
        record.update(status="failed", cell=nb.cells[index].get("execution_count"),
                      error=f"a cell ran longer than {cell_timeout}s: a job is probably stuck "
                            "(`labkit status` lists the running jobs, `labkit logs` shows why)")
    except KeyboardInterrupt:  # the kernel has been shut down on the way out of setup_kernel
        cancelled = _cancel_jobs_started_since(started_ms)
        record.update(status="interrupted", cell=None if index is None else nb.cells[index].get("execution_count"),
                      cancelled_jobs=cancelled,
                      error=f"interrupted (Ctrl-C or SIGTERM); {len(cancelled)} job(s) it started cancelled")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        record["duration_s"] = round(time.monotonic() - started, 1)
        nbformat.write(nb, executed)
        (out_dir / f"{notebook.stem}.json").write_text(json.dumps(record, indent=2))
    if record["status"] == "interrupted":
        raise RunInterrupted(f"chapter {notebook.stem} interrupted in cell {record.get('cell')}: {record['error']}")
    if record["status"] != "passed":
        raise LabError(f"chapter {notebook.stem} failed in cell {record.get('cell')}: {record['error']}",
                       hint=f"open {executed} to see the failing cell and its output")
    return record
