"""Every pipeline a chapter runs is shown in the chapter, before it runs: the build and the
functions of its own module that the build wires in (``lk.show_code`` displays their source, so
what is shown is what runs)."""
import importlib
import inspect
import re

import nbformat
import pytest

from labkit.chapters import chapters

# Helpers that submit a pipeline themselves: what they run.
HELPER_BUILDS = {
    "runs.run_bounded": "labkit.recommender.pipeline.build",
    "runs.start_bounded": "labkit.recommender.pipeline.build",
    "runs.start_replayed": "labkit.recommender.pipeline.build",
    "runs.replay_latencies": "labkit.recommender.pipeline.build",
    "runs.p99_runs": "labkit.recommender.pipeline.build",
    "experiments.sustained_python_rate": "labkit.pipelines.keyed_count.build",
    "experiments.python_throughput": "labkit.pipelines.keyed_count.build",
    "experiments.run_latency_probe": "labkit.pipelines.tuning.build_latency_probe",
}


def _aliases(cells: list[str]) -> dict[str, str]:
    """``alias -> module`` from the chapter's ``from X import Y [as Z]`` lines."""
    aliases = {}
    for source in cells:
        for package, names in re.findall(r"^from ([\w.]+) import ([\w ,]+)$", source, re.M):
            for name in names.split(","):
                name, _, alias = name.strip().partition(" as ")
                aliases[alias or name] = f"{package}.{name}"
    return aliases


def _resolve(dotted: str, aliases: dict[str, str]) -> str | None:
    head, _, attr = dotted.partition(".")
    return f"{aliases[head]}.{attr}" if attr and head in aliases else None


def _load(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _functions_wired_in(build) -> list[str]:
    """The build plus the function classes of its own module that its code names."""
    module = inspect.getmodule(build)
    wired = [f"{module.__name__}.{build.__name__}"]
    for name in build.__code__.co_names:
        value = getattr(module, name, None)
        if inspect.isclass(value) and value.__module__ == module.__name__:
            wired.append(f"{module.__name__}.{name}")
    return wired


def _runs_and_shows(notebook):
    """``(cell index, build path)`` for every pipeline the chapter runs, ``{path: first cell}`` shown."""
    sources = [c.source for c in notebook.cells if c.cell_type == "code"]
    aliases = _aliases(sources)
    runs, shown = [], {}
    for index, source in enumerate(sources):
        for args in re.findall(r"show_code\(([^)]*)\)", source):
            for dotted in re.findall(r"[\w.]+", args):
                if (path := _resolve(dotted, aliases)):
                    shown.setdefault(path, index)
        for dotted in re.findall(r"lk\.submit\(\s*([\w.]+)", source):
            if (path := _resolve(dotted, aliases)):
                runs.append((index, path))
        for helper, build in HELPER_BUILDS.items():
            if re.search(rf"\b{re.escape(helper)}\(", source):
                runs.append((index, build))
    return runs, shown


@pytest.mark.parametrize("chapter", sorted(chapters()))
def test_every_pipeline_a_chapter_runs_is_shown_before_it_runs(chapter):
    notebook = nbformat.read(chapters()[chapter], as_version=4)
    runs, shown = _runs_and_shows(notebook)
    missing = sorted({path for index, build in runs for path in _functions_wired_in(_load(build))
                      if shown.get(path, len(notebook.cells)) > index})
    assert missing == [], f"{chapter} runs code it does not show first (lk.show_code): {missing}"


def test_the_check_finds_a_pipeline_that_is_run_but_not_shown():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from labkit.pipelines import keyed_count as kc\nlk.show_code(kc.build)"),
        nbformat.v4.new_code_cell("job = lk.submit(kc.build, name='x', records=10)")])
    runs, shown = _runs_and_shows(notebook)
    assert runs == [(1, "labkit.pipelines.keyed_count.build")]
    wired = _functions_wired_in(_load(runs[0][1]))
    assert "labkit.pipelines.keyed_count.CountPerKey" in wired and "labkit.pipelines.keyed_count.CountPerKey" not in shown
