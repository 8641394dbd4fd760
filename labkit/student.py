"""Student copies of the chapter notebooks, in the manner of nbgrader's solution stripping.

In a solution notebook each exercise's answer sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` in a code cell under a ``### Exercise NN.M`` heading. A student copy
replaces that block with a placeholder that stops the cell with a learner-facing message,
keeps every check cell as it is, and has no outputs.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .chapters import chapters
from .errors import LabError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_HEADING = re.compile(r"^###\s+Exercise\s+(\d+\.\d+)", re.MULTILINE)


def placeholder(exercise: str, indent: str) -> list[str]:
    return [f"{indent}# YOUR CODE HERE (exercise {exercise})",
            f"{indent}raise lk.ExerciseNotDone('exercise {exercise} is not answered yet')"]


def strip_solutions(source: str, exercise: str) -> str:
    """``source`` with each solution block replaced by the placeholder of ``exercise``."""
    lines, out, inside = source.splitlines(), [], False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise LabError(f"exercise {exercise}: nested {BEGIN}")
            inside = True
            out += placeholder(exercise, line[: len(line) - len(line.lstrip())])
        elif stripped == END:
            if not inside:
                raise LabError(f"exercise {exercise}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise LabError(f"exercise {exercise}: {BEGIN} without {END}")
    return "\n".join(out)


def student_copy(solution: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """The student version of a notebook and the exercises it stripped, in order."""
    copy = nbformat.from_dict(solution)
    exercise, stripped = None, []
    for cell in copy.cells:
        if cell.cell_type == "markdown":
            heading = EXERCISE_HEADING.search(cell.source)
            exercise = heading.group(1) if heading else exercise
        elif BEGIN in cell.source:
            if exercise is None:
                raise LabError("a solution block comes before any '### Exercise NN.M' heading")
            cell.source = strip_solutions(cell.source, exercise)
            stripped.append(exercise)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return copy, stripped


def write_student_copies(out_dir: Path) -> dict[str, list[str]]:
    """Student copies of every chapter into ``out_dir``; returns {chapter: stripped exercises}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for path in chapters().values():
        copy, stripped = student_copy(nbformat.read(path, as_version=4))
        nbformat.write(copy, out_dir / path.name)
        written[path.stem] = stripped
    return written


def first_exercise(solution: nbformat.NotebookNode) -> tuple[int, str, str] | None:
    """(cell index, exercise, the student copy's source of that cell) of the first cell a student
    copy changes, or None for a notebook without solutions."""
    copy, stripped = student_copy(solution)
    for index, (theirs, learners) in enumerate(zip(solution.cells, copy.cells, strict=True)):
        if theirs.source != learners.source:
            return index, stripped[0], learners.source
    return None
