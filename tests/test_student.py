"""Student copies: solutions stripped, checks kept. (Where a copy stops when run is proven by each
chapter's one run in test_notebooks.py: the runner executes the copy's first exercise cell in the
chapter's own kernel.)"""
import nbformat
import pytest

from labkit.chapters import NOTEBOOKS
from labkit.student import BEGIN, END, student_copy, write_student_copies

CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_copy_strips_solutions_and_keeps_checks(path):
    solution = nbformat.read(path, as_version=4)
    copy, stripped = student_copy(solution)
    headings = [line.split()[2] for c in solution.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("### Exercise")]
    assert stripped == headings and stripped
    text = "\n".join(c.source for c in copy.cells)
    assert BEGIN not in text and END not in text
    assert text.count("YOUR CODE HERE") == len(stripped)
    checks = [c.source for c in solution.cells if "lk.checks." in c.source and BEGIN not in c.source]
    assert checks and all(check in text for check in checks), "every check cell is kept as it is"
    assert not [c for c in copy.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]


def test_student_command_writes_a_copy_of_every_chapter(tmp_path):
    written = write_student_copies(tmp_path)
    assert sorted(written) == [p.stem for p in CHAPTERS]
    for stem, exercises in written.items():
        text = "\n".join(c.source for c in nbformat.read(tmp_path / f"{stem}.ipynb", as_version=4).cells)
        assert [f"YOUR CODE HERE (exercise {e})" in text for e in exercises] == [True] * len(exercises)
