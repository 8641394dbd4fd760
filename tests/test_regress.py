"""The regression report, the per-cell timeout and the student-copy stop, on tiny notebooks
executed for real in a kernel. (The chapters themselves run in test_notebooks.py.)"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.errors import LabError
from labkit.regress import run_all
from labkit.runner import run_chapter

PASSING = [new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
           nbformat.v4.new_markdown_cell("## Six words of prose to read\n\n```\ncode is not read\n```\n"
                                         "<!-- claim: pace -->"),
           new_code_cell("print('✓ Exercise 98.1 passed')\nprint(f'measured {6 * 7} records/s at size {size}')\n"
                         "print('✓ pace: 42 records/s')"),
           new_code_cell("import io\nfrom IPython.display import Image\nfrom matplotlib.figure import Figure\n"
                         "fig = Figure(); fig.subplots().plot([1, 2]); buffer = io.BytesIO(); "
                         "fig.savefig(buffer, format='png')\n"
                         "Image(data=buffer.getvalue(), format='png')")]
FAILING = [new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
           new_code_cell("print(f'measured {size!r}')\nassert size == 'learner', f'ran at size {size}'")]


def _write(folder, name, cells):
    folder.mkdir(exist_ok=True)
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), folder / f"{name}.ipynb")


def test_report_lists_each_chapter_with_its_measurements_figures_and_failures(tmp_path):
    folder = tmp_path / "notebooks"
    for name, cells in (("98_passing", PASSING), ("99_failing", FAILING)):
        _write(folder, name, cells)
    summary = run_all(size="ci", out_dir=tmp_path / "runs", folder=folder)
    assert summary["failed"] == ["99_failing"]
    passing, failing = summary["chapters"]
    assert passing["status"] == "passed" and passing["measured"] == ["measured 42 records/s at size ci"]
    assert passing["exercises"] == ["✓ Exercise 98.1 passed"] and passing["claims"] == ["✓ pace: 42 records/s"]
    assert passing["words"] == 6 and passing["asked"] == []
    assert (tmp_path / "runs" / passing["figures"][0]).read_bytes().startswith(b"\x89PNG")
    report = (tmp_path / "runs" / "report.md").read_text()
    assert "FAILED: 99_failing" in report and "| 98_passing | passed |" in report
    # the class-needs row: run time, prose words, reading time, exercises
    assert re.search(r"^\| 98_passing \| [\d.]+ min \| 6 \| 0 min \| 0 \(\) \|$", report, re.M)
    assert "ran at size ci" in report and "measured 42 records/s" in report
    assert "printed: measured 'ci'" in failing["error"], "a failed claim shows what its cell printed"
    assert f"]({passing['figures'][0]})" in report


def test_a_run_prints_each_section_it_enters_and_no_kernel_transport_warning(tmp_path, capfd):
    _write(tmp_path / "notebooks", "98_passing", PASSING)
    run_chapter("98", size="ci", out_dir=tmp_path / "runs", folder=tmp_path / "notebooks")
    printed, errors = capfd.readouterr()
    progress = [line for line in printed.splitlines() if line.startswith("  98_passing  ")]
    assert [line.split("  ", 3)[3] for line in progress] == ["cell 1 of 4", "cell 3 of 4  Six words of prose to read"]
    assert "without encryption" not in errors, "the kernel's sockets are not encrypted"


def test_a_stuck_cell_fails_the_run_with_a_message_instead_of_hanging_it(tmp_path):
    folder = tmp_path / "notebooks"
    _write(folder, "97_stuck", [new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
                                new_code_cell("import time\ntime.sleep(60)")])
    with pytest.raises(LabError, match="ran longer than 3s: a job is probably stuck"):
        run_chapter("97", size="ci", out_dir=tmp_path / "runs", folder=folder, cell_timeout=3)


EXERCISE = [new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
            new_code_cell("import labkit as lk\nanswer = None"),
            nbformat.v4.new_markdown_cell("### Exercise 96.1 · Answer"),
            new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\nanswer"),
            new_code_cell("lk.checks.check_equal('96.1', answer, 42, 'the answer')")]



def test_a_run_shows_where_the_student_copy_stops_without_running_the_chapter_twice(tmp_path):
    _write(tmp_path / "notebooks", "96_exercise", EXERCISE)
    record = run_chapter("96", size="ci", out_dir=tmp_path / "runs", folder=tmp_path / "notebooks")
    stop = record["student_stop"]
    assert stop["ok"] and stop["exercise"] == "96.1" and stop["cell"] == 4  # after the injected parameters
    assert stop["error"].startswith("ExerciseNotDone: exercise 96.1 is not answered yet")
    assert "-> write your answer" in stop["error"] and len(stop["shown"]) <= 2
    executed = nbformat.read(tmp_path / "runs" / "96_exercise.ipynb", as_version=4)
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] == [1, 2, 3, 5, 6]
    assert "✓ Exercise 96.1 passed" in "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert len(record["cells"]) == 5 and all(c["seconds"] >= 0 for c in record["cells"])


def test_a_student_copy_that_does_not_stop_at_its_exercise_fails_the_run(tmp_path):
    # the solution is a function body: the copy defines a function that raises when called, and runs on
    broken = EXERCISE[:3] + [new_code_cell("def answer_of():\n    ### BEGIN SOLUTION\n    return 42\n"
                                           "    ### END SOLUTION\nanswer = 42")] + EXERCISE[4:]
    _write(tmp_path / "notebooks", "95_broken", broken)
    with pytest.raises(LabError, match="does not stop at exercise 96.1 with the learner's message; "
                                       "it showed: no error"):
        run_chapter("95", size="ci", out_dir=tmp_path / "runs", folder=tmp_path / "notebooks")


def test_a_run_hands_the_kernel_its_settings_once_without_changing_its_own_environment(tmp_path):
    before = dict(os.environ)
    _write(tmp_path / "notebooks", "94_settings", [
        new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
        new_code_cell("from labkit.current_lab import lab_settings\n"
                      "print(f'headless={lab_settings().headless} metrics in {lab_settings().metrics_dir}')")])
    run_chapter("94", size="ci", out_dir=tmp_path / "runs", folder=tmp_path / "notebooks")
    executed = nbformat.read(tmp_path / "runs" / "94_settings.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert printed.strip() == f"headless=True metrics in {tmp_path / 'runs' / '94_settings'}"
    assert dict(os.environ) == before


def test_a_run_stopped_by_sigterm_cancels_its_jobs_stops_its_kernel_and_says_interrupted(tmp_path, cluster):
    folder = tmp_path / "notebooks"
    _write(folder, "95_interrupted", [
        new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
        new_code_cell("import time\nimport labkit as lk\nfrom labkit.pipelines import keyed_count as kc\n"
                      "lk.submit(kc.build, name='t-interrupted', records=10**7, keys=10, rate=500).wait_running()\n"
                      "time.sleep(300)")])
    script = (f"from pathlib import Path\nfrom labkit.runner import run_chapter\n"
              f"run_chapter('95', out_dir=Path({str(tmp_path / 'runs')!r}), folder=Path({str(folder)!r}))")
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(job["name"] == "t-interrupted" and job["state"] == "RUNNING" for job in cluster.rest.jobs()):
        assert time.monotonic() < deadline and run.poll() is None, run.communicate()
        time.sleep(0.5)
    kernels = psutil.Process(run.pid).children(recursive=True)
    assert kernels, "the run's kernel"
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode != 0 and "RunInterrupted: chapter 95_interrupted interrupted" in stderr, stderr
    record = json.loads((tmp_path / "runs" / "95_interrupted.json").read_text())
    assert record["status"] == "interrupted" and record["cancelled_jobs"] == ["t-interrupted"]
    _, alive = psutil.wait_procs(kernels, timeout=10)
    assert not alive, f"left running: {alive}"
    job = next(job for job in cluster.rest.jobs() if job["name"] == "t-interrupted")
    assert job["state"] in ("CANCELING", "CANCELED")


def test_a_java_exception_in_a_cell_shows_its_first_useful_line_and_how_to_see_the_rest(tmp_path):
    folder = tmp_path / "notebooks"
    _write(folder, "94_java", [
        new_code_cell('size = "learner"', metadata={"tags": ["parameters"]}),
        new_code_cell("import labkit as lk\nfrom pyflink.java_gateway import get_gateway\n"
                      "get_gateway().jvm.java.time.Duration.parse('two seconds')")])
    with pytest.raises(LabError, match="Py4JJavaError"):
        run_chapter("94", size="ci", out_dir=tmp_path / "runs", folder=folder)
    executed = nbformat.read(tmp_path / "runs" / "94_java.ipynb", as_version=4)
    error = next(o for o in executed.cells[-1].outputs if o["output_type"] == "error")
    assert error["traceback"] == [
        "Py4JJavaError from Java: DateTimeParseException: Text cannot be parsed to a Duration",
        "  -> the whole Java stack trace: run %tb in the next cell"]
