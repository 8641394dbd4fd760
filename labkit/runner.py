"""Running chapter notebooks headless with papermill (CI, regression runs, `make lab-headless`)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .errors import LabError, UnknownChapter

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _running_cell(executed: Path) -> int | None:
    """The execution count of the cell papermill was running when it stopped."""
    import nbformat
    if not executed.exists():
        return None
    cells = nbformat.read(executed, as_version=4).cells
    running = [c for c in cells if c.get("metadata", {}).get("papermill", {}).get("status") == "running"]
    return running[0].get("execution_count") if running else None


def sized(sizes: dict[str, dict], size: str) -> dict:
    """The parameters a chapter runs with: ``sizes[size]``, where ``size`` comes from the notebook's
    parameters cell (papermill sets it) unless LABKIT_SIZE says otherwise (nbval runs, which
    cannot inject parameters)."""
    size = os.environ.get("LABKIT_SIZE") or size
    if size not in sizes:
        raise LabError(f"unknown size {size!r}", hint=f"use one of {sorted(sizes)}")
    return sizes[size]


def chapters(folder: Path = NOTEBOOKS) -> dict[str, Path]:
    """{"00": notebooks/00_lab_tour.ipynb, ...} in chapter order."""
    return {p.name[:2]: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}


def find_chapter(name: str, folder: Path = NOTEBOOKS) -> Path:
    """A chapter by number ("0", "00") or name ("00_lab_tour", "lab_tour")."""
    known = chapters(folder)
    key = name.removesuffix(".ipynb")
    if key.isdigit() and key.zfill(2) in known:
        return known[key.zfill(2)]
    for path in known.values():
        if key in (path.stem, path.stem[3:]):
            return path
    raise UnknownChapter(f"no chapter {name!r}; the chapters are: " + ", ".join(p.stem for p in known.values()))


# No cell of a chapter should run longer than this at each size: a stuck job fails the run
# with a message instead of hanging it.
CELL_TIMEOUT_S = {"ci": 300, "learner": 900}


def run_chapter(name: str, size: str = "ci", out_dir: Path = Path("runs"), cell_timeout: int | None = None,
                folder: Path = NOTEBOOKS) -> dict:
    """Execute a chapter (from ``folder``: the solutions, or a folder of student copies) with
    papermill; write the executed notebook, its dashboards' metrics (CSV, via LABKIT_RUN_DIR) and
    a JSON record. Raises LabError if the notebook fails or a cell runs past ``cell_timeout``."""
    import papermill
    from nbclient.exceptions import CellTimeoutError

    cell_timeout = cell_timeout or CELL_TIMEOUT_S.get(size, max(CELL_TIMEOUT_S.values()))

    notebook = find_chapter(name, folder)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    record = {"chapter": notebook.stem, "size": size, "executed": str(executed)}
    saved = {k: os.environ.get(k) for k in ("LABKIT_HEADLESS", "LABKIT_RUN_DIR")}
    os.environ.update({"LABKIT_HEADLESS": "1", "LABKIT_RUN_DIR": str(out_dir / notebook.stem)})
    started = time.monotonic()
    try:
        papermill.execute_notebook(str(notebook), str(executed), parameters={"size": size},
                                   cwd=str(notebook.parent), kernel_name="python3",
                                   execution_timeout=cell_timeout, progress_bar=False)
        record["status"] = "passed"
    except papermill.PapermillExecutionError as exc:
        record.update(status="failed", error=f"{exc.ename}: {exc.evalue}".strip(), cell=exc.exec_count)
    except CellTimeoutError:
        record.update(status="failed", cell=_running_cell(executed),
                      error=f"a cell ran longer than {cell_timeout}s: a job is probably stuck "
                            "(`labkit status` lists the running jobs, `labkit logs` shows why)")
    finally:
        record["duration_s"] = round(time.monotonic() - started, 1)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        (out_dir / f"{notebook.stem}.json").write_text(json.dumps(record, indent=2))
    if record["status"] != "passed":
        raise LabError(f"chapter {notebook.stem} failed in cell {record.get('cell')}: {record['error']}",
                       hint=f"open {executed} to see the failing cell and its output")
    return record
