"""What a chapter runs is code the learner reads in the chapter, before it runs.

The first chapter that runs a pipeline defines it in its own cells (d2l style): a cell that
starts with ``# as in labkit/<module>.py`` holds that module's functions and classes, character
for character, and the chapter's own ``lk.submit`` calls run what the cell defined (a labkit helper
that submits for it runs the same code from labkit). Later chapters (and the tests and
the benchmarks) import the same code from labkit and display it with ``lk.show_code``. So a test
here fails when a chapter's cell and labkit's module differ, and when a chapter runs a pipeline
whose build, or a function class it wires in, it has neither defined nor shown first."""
import ast
import importlib
import inspect
import re

import nbformat
import pytest

from labkit.chapters import chapters
from labkit.source import module_of_cell

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


def _defined_names(statement) -> list[str]:
    if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, ast.Assign):
        return [target.id for target in statement.targets if isinstance(target, ast.Name)]
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return [statement.target.id]
    return []


def _runs_and_shows(notebook):
    """``(cell index, build path)`` for every pipeline the chapter runs, ``{path: first cell}``
    defined or shown."""
    sources = [c.source for c in notebook.cells if c.cell_type == "code"]
    aliases = _aliases(sources)
    defined: dict[str, str] = {}  # name in the notebook -> the labkit path its cell holds

    def resolve(dotted: str) -> str | None:
        head, _, attr = dotted.partition(".")
        if not attr:
            return defined.get(head)
        return f"{aliases[head]}.{attr}" if head in aliases else None

    runs, shown = [], {}
    for index, source in enumerate(sources):
        if (module := module_of_cell(source)):
            for statement in ast.parse(source).body:
                for name in _defined_names(statement):
                    defined[name] = f"{module}.{name}"
                    shown.setdefault(defined[name], index)
        for args in re.findall(r"show_code\(([^)]*)\)", source):
            for dotted in re.findall(r"[\w.]+", args):
                if (path := resolve(dotted)):
                    shown.setdefault(path, index)
        for dotted in re.findall(r"lk\.submit\(\s*([\w.]+)", source):
            if (path := resolve(dotted)):
                runs.append((index, path))
        for helper, build in HELPER_BUILDS.items():
            if re.search(rf"\b{re.escape(helper)}\(", source):
                runs.append((index, build))
    return runs, shown


@pytest.mark.parametrize("chapter", sorted(chapters()))
def test_every_pipeline_a_chapter_runs_is_defined_or_shown_before_it_runs(chapter):
    notebook = nbformat.read(chapters()[chapter], as_version=4)
    runs, shown = _runs_and_shows(notebook)
    missing = sorted({path for index, build in runs for path in _functions_wired_in(_load(build))
                      if shown.get(path, len(notebook.cells)) > index})
    assert missing == [], f"{chapter} runs code it neither defines nor shows first (lk.show_code): {missing}"


def _statement_text(source: str, statement) -> str:
    first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
    return "\n".join(source.splitlines()[first - 1:statement.end_lineno])


def _differences(cell: str) -> list[str]:
    """Where a ``# as in labkit/...`` cell is not its module's code, one line per statement."""
    module = importlib.import_module(module_of_cell(cell))
    module_source = inspect.getsource(module)
    module_statements = {name: statement for statement in ast.parse(module_source).body
                         for name in _defined_names(statement)}
    problems = []
    for statement in ast.parse(cell).body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                bound = alias.asname or alias.name.split(".")[0]
                if isinstance(statement, ast.ImportFrom):
                    value = getattr(importlib.import_module(statement.module), alias.name)
                else:
                    value = importlib.import_module(alias.name.split(".")[0])
                if getattr(module, bound, None) is not value:
                    problems.append(f"`{bound}` is imported from elsewhere than in {module.__name__}")
            continue
        names = _defined_names(statement)
        if not names or any(name not in module_statements for name in names):
            problems.append(f"line {statement.lineno}: not a definition of {module.__name__}")
            continue
        theirs = module_statements[names[0]]
        if _statement_text(cell, statement) != _statement_text(module_source, theirs):
            problems.append(f"`{names[0]}` differs from {module.__name__}.{names[0]}")
    return problems


def _reimports(cells: list[str]) -> list[str]:
    """Names a ``# as in`` cell imports from labkit after an earlier cell defined them: running it
    would replace the chapter's own definition (and a learner's edit of it) with labkit's."""
    defined, problems = set(), []
    for cell in cells:
        for statement in ast.parse(cell).body:
            if isinstance(statement, ast.ImportFrom) and statement.module.startswith("labkit"):
                problems += [f"`{a.name}` is imported from {statement.module}, but the chapter defined it"
                             for a in statement.names if a.name in defined]
            defined.update(_defined_names(statement))
    return problems


@pytest.mark.parametrize("chapter", sorted(chapters()))
def test_code_a_chapter_defines_is_labkits_code_character_for_character(chapter):
    notebook = nbformat.read(chapters()[chapter], as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code" and module_of_cell(c.source)]
    assert [problem for cell in cells for problem in _differences(cell)] + _reimports(cells) == []


def test_the_checks_find_a_pipeline_run_unshown_a_definition_that_drifted_and_one_imported_over():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from labkit.pipelines import keyed_count as kc\nlk.show_code(kc.build)"),
        nbformat.v4.new_code_cell("job = lk.submit(kc.build, name='x', records=10)")])
    runs, shown = _runs_and_shows(notebook)
    assert runs == [(1, "labkit.pipelines.keyed_count.build")]
    wired = _functions_wired_in(_load(runs[0][1]))
    assert "labkit.pipelines.keyed_count.CountPerKey" in wired and "labkit.pipelines.keyed_count.CountPerKey" not in shown

    from labkit.pipelines import keyed_count
    original = "# as in labkit/pipelines/keyed_count.py\nfrom pyflink.common import Types\n\n\n" + \
        inspect.getsource(keyed_count.CountPerKey)
    assert _differences(original) == []
    drifted = original.replace("(self.count.value() or 0) + 1", "(self.count.value() or 0) + 2")
    assert _differences(drifted) == ["`CountPerKey` differs from labkit.pipelines.keyed_count.CountPerKey"]
    elsewhere = original.replace("from pyflink.common import Types", "from pyflink.table import DataTypes as Types")
    assert _differences(elsewhere) == ["`Types` is imported from elsewhere than in labkit.pipelines.keyed_count"]
    extra = original + "\nprint('side effect')\n"
    assert _differences(extra)[0].endswith("not a definition of labkit.pipelines.keyed_count")
    reimport = "# as in labkit/pipelines/state_backends.py\nfrom labkit.pipelines.keyed_count import CountPerKey\n"
    assert _reimports([original, reimport]) == [
        "`CountPerKey` is imported from labkit.pipelines.keyed_count, but the chapter defined it"]
