"""The regression report and the per-cell timeout, on tiny notebooks executed for real by
papermill. (The chapters themselves run in test_notebooks.py.)"""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.errors import LabError
from labkit.regress import run_all
from labkit.runner import run_chapter

PASSING = [new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
           new_code_cell("print('✓ Exercise 98.1 passed')\nprint(f'measured {6 * 7} records/s at size {size}')"),
           new_code_cell("import io\nfrom IPython.display import Image\nfrom matplotlib.figure import Figure\n"
                         "fig = Figure(); fig.subplots().plot([1, 2]); buffer = io.BytesIO(); fig.savefig(buffer, format='png')\n"
                         "Image(data=buffer.getvalue(), format='png')")]
FAILING = [new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
           new_code_cell("assert size == 'learner', f'ran at size {size}'")]


def test_report_lists_each_chapter_with_its_measurements_figures_and_failures(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, cells in (("98_passing", PASSING), ("99_failing", FAILING)):
        nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                          "language": "python"}}),
                       folder / f"{name}.ipynb")
    summary = run_all(size="ci", out_dir=tmp_path / "runs", folder=folder)
    assert summary["failed"] == ["99_failing"]
    passing, failing = summary["chapters"]
    assert passing["status"] == "passed" and passing["measured"] == ["measured 42 records/s at size ci"]
    assert passing["exercises"] == ["✓ Exercise 98.1 passed"]
    assert (tmp_path / "runs" / passing["figures"][0]).read_bytes().startswith(b"\x89PNG")
    report = (tmp_path / "runs" / "report.md").read_text()
    assert "FAILED: 99_failing" in report and "| 98_passing | passed |" in report
    assert "ran at size ci" in report and "measured 42 records/s" in report
    assert f"]({passing['figures'][0]})" in report


def test_a_stuck_cell_fails_the_run_with_a_message_instead_of_hanging_it(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    stuck = [new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
             new_code_cell("import time\ntime.sleep(60)")]
    nbformat.write(new_notebook(cells=stuck, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), folder / "97_stuck.ipynb")
    with pytest.raises(LabError, match="ran longer than 3s: a job is probably stuck"):
        run_chapter("97", size="ci", out_dir=tmp_path / "runs", folder=folder, cell_timeout=3)
