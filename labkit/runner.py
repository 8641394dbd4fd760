"""Running chapter notebooks headless with papermill (CI, regression runs, `make lab-headless`)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .errors import LabError, UnknownChapter

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


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


def run_chapter(name: str, size: str = "ci", out_dir: Path = Path("runs"), cell_timeout: int = 600,
                folder: Path = NOTEBOOKS) -> dict:
    """Execute a chapter (from ``folder``: the solutions, or a folder of student copies) with
    papermill; write the executed notebook, its dashboards' metrics (CSV, via LABKIT_RUN_DIR) and
    a JSON record. Raises LabError if the notebook fails."""
    import papermill

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
