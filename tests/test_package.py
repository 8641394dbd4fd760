"""labkit's public API, and what a Python worker pays to import the lab's functions."""
import subprocess
import sys
from pathlib import Path

import pytest

import labkit as lk

# every module whose functions a Python worker unpickles: the pipelines and the recommender's
PIPELINES = sorted([f"labkit.pipelines.{path.stem}"
                    for path in (Path(lk.__file__).parent / "pipelines").glob("*.py") if path.stem != "__init__"]
                   + ["labkit.recommender.pipeline"])
# what a worker must not load: the plotting and notebook stack, and the orchestration of jobs
HEAVY = ("pandas", "matplotlib", "IPython", "ipywidgets", "labkit.jobs", "labkit.job_handle", "labkit.current_lab",
         "labkit.metrics")


def test_every_public_name_resolves():
    assert [name for name in lk.__all__ if getattr(lk, name, None) is None] == []
    assert issubclass(lk.ExerciseNotDone, lk.LabError) and lk.jobs.LAB_DEFAULTS


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'sumbit'"):
        lk.sumbit  # noqa: B018


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_worker_importing_a_pipeline_loads_no_plotting_notebook_or_orchestration_code(pipeline):
    # a Python worker imports labkit/__init__ before it can unpickle any of these functions
    loaded = subprocess.run([sys.executable, "-c", f"import sys, {pipeline}; "
                             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
