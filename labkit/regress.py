"""Regression runs: every chapter executed headless, one Markdown report.

    labkit regress [--size ci|learner] [--out runs] [--chapters 01 03]

For each chapter the report gives pass/fail, the duration, the exercises that passed, the claims
it checked on the run, the measured lines the chapter printed (with this run's numbers), its final
figures (saved as PNG next to the report) and what a class needs for it: the run, the reading of
its prose and its exercises. The command fails (exit 1) if any chapter failed.
"""
from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import nbformat

from .chapters import NOTEBOOKS, chapters, find_chapter
from .errors import LabError, RunInterrupted
from .runner import run_chapter
from .student import student_copy

MAX_MEASURED_LINES = 12
SLOWEST_CELLS = 3
# Technical prose read with care, beside code and plots.
READING_WORDS_PER_MINUTE = 150


def prose_words(notebook: Path) -> int:
    """Words of a chapter's markdown a learner reads (code blocks and hidden markers left out)."""
    words = 0
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown":
            text = re.sub(r"```.*?```|<!--.*?-->", " ", cell.source, flags=re.S)
            words += len(re.findall(r"[A-Za-z0-9][\w'’-]*", text))
    return words


def exercises_of(notebook: Path) -> list[str]:
    """The exercises a chapter asks (the solutions its student copy strips), in order."""
    return list(dict.fromkeys(student_copy(nbformat.read(notebook, as_version=4))[1]))


def _outputs(executed: Path) -> tuple[list[str], list[bytes]]:
    """(printed lines, PNG images) of an executed notebook, in order."""
    if not executed.exists():
        return [], []
    nb = nbformat.read(executed, as_version=4)
    lines, images = [], []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                lines += [line.rstrip() for line in output.get("text", "").splitlines() if line.strip()]
            png = output.get("data", {}).get("image/png")
            if png:
                images.append(base64.b64decode(png))
    return lines, images


def _measured(lines: list[str]) -> list[str]:
    """The lines that report a measurement: they carry a number, and are neither exercise verdicts
    nor indented (printed source code, tracebacks)."""
    return [line for line in lines if any(ch.isdigit() for ch in line) and not line.startswith(("✓", "✗", " ", "\t"))]


def run_all(size: str = "ci", out_dir: Path = Path("runs"), names: list[str] | None = None,
            folder: Path = NOTEBOOKS) -> dict:
    """Run the chapters of ``folder`` (all, or ``names``) and write ``report.md`` and ``report.json``."""
    out_dir = Path(out_dir).resolve()
    selected = [find_chapter(name, folder) for name in names] if names else list(chapters(folder).values())
    started = time.monotonic()
    results, interrupted = [], None
    for number, notebook in enumerate(selected, 1):
        print(f"[{number}/{len(selected)}] {notebook.stem}: running at {size} size ...", flush=True)
        try:
            record = run_chapter(notebook.stem, size=size, out_dir=out_dir, folder=folder)
        except RunInterrupted as stop:
            interrupted = stop
            record = json.loads((out_dir / f"{notebook.stem}.json").read_text())
        except LabError:
            record = json.loads((out_dir / f"{notebook.stem}.json").read_text())
        lines, images = _outputs(Path(record["executed"]))
        figures = []
        for i, png in enumerate(images, 1):
            path = out_dir / notebook.stem / f"figure-{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
            figures.append(str(path.relative_to(out_dir)))
        passed = [line for line in lines if line.startswith("✓")]
        record.update(exercises=[line for line in passed if line.startswith("✓ Exercise")],
                      claims=[line for line in passed if not line.startswith("✓ Exercise")],
                      measured=_measured(lines), figures=figures, words=prose_words(notebook),
                      asked=exercises_of(notebook))
        results.append(record)
        print(f"{record['chapter']:28} {record['status']:7} {record['duration_s']:7.1f}s", flush=True)
        if interrupted:
            break
    summary = {"size": size, "duration_s": round(time.monotonic() - started, 1), "chapters": results,
               "failed": [r["chapter"] for r in results if r["status"] != "passed"],
               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2))
    (out_dir / "report.md").write_text(markdown(summary))
    if interrupted:
        raise RunInterrupted(f"{interrupted.args[0]}; the report of the chapters run so far: {out_dir / 'report.md'}")
    return summary


def markdown(summary: dict) -> str:
    verdict = "all chapters passed" if not summary["failed"] else f"FAILED: {', '.join(summary['failed'])}"
    out = [f"# Flink State Lab regression run ({summary['size']} size, {summary['when']})", "",
           f"{verdict}; {summary['duration_s'] / 60:.1f} minutes in all.", "",
           "| chapter | status | duration | exercise checks passed | claims checked | student copy stops at "
           "| slowest cells (execution count: s) |",
           "|---|---|---|---|---|---|---|"]
    for r in summary["chapters"]:
        stop = r.get("student_stop")
        if not stop:
            stops = "-"
        else:
            stops = f"{stop['exercise']}" if stop["ok"] else f"{stop['exercise']}: NOT with the learner's message"
        slowest = sorted(r.get("cells", []), key=lambda c: -c["seconds"])[:SLOWEST_CELLS]
        cells = ", ".join(f"[{c['execution_count']}] {c['seconds']:.0f}" for c in slowest)
        out.append(f"| {r['chapter']} | {r['status']} | {r['duration_s']:.0f} s | {len(r['exercises'])} "
                   f"| {len(r.get('claims', []))} | {stops} | {cells} |")
    out += ["", "What a class needs per chapter: this run, plus reading its prose at "
            f"{READING_WORDS_PER_MINUTE} words a minute, plus its exercises.", "",
            "| chapter | run | prose words | reading | exercises |", "|---|---|---|---|---|"]
    for r in summary["chapters"]:
        out.append(f"| {r['chapter']} | {r['duration_s'] / 60:.1f} min | {r.get('words', 0):,} "
                   f"| {r.get('words', 0) / READING_WORDS_PER_MINUTE:.0f} min | {len(r.get('asked', []))} "
                   f"({', '.join(r.get('asked', []))}) |")
    for r in summary["chapters"]:
        out += ["", f"## {r['chapter']}: {r['status']}", ""]
        if r["status"] != "passed":
            out += [f"Failed in cell {r.get('cell')}: `{r.get('error', '')[:300]}`", "",
                    f"Executed notebook: `{r['executed']}`", ""]
        measured = r["measured"]
        if measured:
            out += ["Measured in this run:", "", "```"] + measured[:MAX_MEASURED_LINES]
            if len(measured) > MAX_MEASURED_LINES:
                out.append(f"… {len(measured) - MAX_MEASURED_LINES} more lines in the executed notebook")
            out += ["```", ""]
        out += [f"![{r['chapter']} figure {i}]({figure})" for i, figure in enumerate(r["figures"][-2:], 1)]
    return "\n".join(out) + "\n"
