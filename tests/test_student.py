"""Student copies: solutions stripped, checks kept, and a copy run headless stops at its first
exercise with the learner-facing message, not a traceback."""
import nbformat
import pytest

from labkit.errors import LabError
from labkit.runner import NOTEBOOKS, run_chapter
from labkit.student import BEGIN, END, student_copy, write_student_copies

CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_copy_strips_solutions_and_keeps_checks(path):
    solution = nbformat.read(path, as_version=4)
    copy, stripped = student_copy(solution)
    headings = [line.split()[2] for c in solution.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("### Exercise")]
    assert stripped == headings and len(stripped) >= 2
    text = "\n".join(c.source for c in copy.cells)
    assert BEGIN not in text and END not in text
    assert text.count("YOUR CODE HERE") == len(stripped)
    checks = [c.source for c in solution.cells if "lk.checks." in c.source and BEGIN not in c.source]
    assert checks and all(check in text for check in checks), "every check cell is kept as it is"
    assert not [c for c in copy.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]


@pytest.mark.cluster
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_copy_stops_at_its_first_exercise_with_a_learner_message(healthy_cluster, tmp_path, path):
    written = write_student_copies(tmp_path / "student")
    first = written[path.stem][0]
    with pytest.raises(LabError):
        run_chapter(path.stem, size="ci", out_dir=tmp_path / "runs", folder=tmp_path / "student")
    executed = nbformat.read(tmp_path / "runs" / path.name, as_version=4)
    ran = [c for c in executed.cells if c.cell_type == "code" and c.get("outputs")]
    last = ran[-1]
    assert f"YOUR CODE HERE (exercise {first})" in last.source, "the copy should stop at its first exercise"
    printed = "".join(o.get("text", "") + "".join(o.get("traceback", [])) for o in last.outputs)
    assert f"ExerciseNotDone: exercise {first} is not answered yet" in printed and "-> write your answer" in printed
    tracebacks = [o for c in ran for o in c.outputs if o.output_type == "error"]
    assert all(len(o.traceback) <= 2 for o in tracebacks), "the learner sees one message, not a traceback"
