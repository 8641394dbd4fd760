"""What a chapter runs is code the learner reads in the chapter, before it runs.

The first chapter that runs a pipeline defines it in its own cells (d2l style): a cell that
starts with ``# as in labkit/<module>.py`` holds that module's functions and classes, written from
the module by ``labkit sync`` (labkit/sync.py), and the chapter's own ``lk.submit`` calls run what
the cell defined (a labkit helper that submits for it runs the same code from labkit). Later
chapters (and the tests and the benchmarks) import the same code from labkit and display it with
``lk.show_code``. So a test here fails when ``labkit sync`` has a cell left to write, and when a
chapter runs a pipeline whose build, or a function class it wires in, it has neither defined nor
shown first."""
import ast
import importlib
import inspect
import re
from pathlib import Path

import nbformat
import pytest

from labkit.chapters import chapters
from labkit.source import module_of_cell
from labkit.sync import HEADER, SyncError, defined_names, sync

PACKAGE = Path(__file__).resolve().parent.parent / "labkit"


def _named(node: ast.expr, namespace: dict):
    """What ``kc.build`` or ``build_from_files`` names in a module's namespace (None: a local name)."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_named(node.value, namespace), node.attr, None)
    return None


def _delegate(function):
    """The build a wrapper of one call runs (``build_from_files`` runs ``build``), else ``function``."""
    definition = ast.parse(inspect.getsource(function)).body[0]
    body = definition.body[1:] if ast.get_docstring(definition) is not None else definition.body
    if len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Call):
        called = _named(body[0].value.func, vars(inspect.getmodule(function)))
        if inspect.isfunction(called):
            return _delegate(called)
    return function


def _helper_builds() -> dict[str, set[str]]:
    """``{"runs.run_bounded": {"labkit.recommender.pipeline.build"}, ...}``: every public labkit
    function that submits one of labkit's pipelines itself (``submit(build, ...)``, or through
    another function of its module), and what it runs. Read from labkit's source."""
    helpers = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        functions = {node.name: node for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)}
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        submits, calls = {}, {}
        for name, node in functions.items():
            called = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
            submits[name] = {n.args[0] for n in called
                             if n.args and "submit" in (getattr(n.func, "id", None), getattr(n.func, "attr", None))}
            calls[name] = {n.func.id for n in called if isinstance(n.func, ast.Name) and n.func.id in functions}
        for name in (n for n in functions if not n.startswith("_")):
            reached, todo = set(), [name]
            while todo:
                if (current := todo.pop()) not in reached:
                    reached.add(current)
                    todo += calls[current]
            # a build the caller passes in (checks.run_answer runs the learner's) names nothing here
            builds = [_named(arg, vars(importlib.import_module(module))) for f in reached for arg in submits[f]]
            runs = {f"{b.__module__}.{b.__qualname__}" for b in map(_delegate, filter(inspect.isfunction, builds))}
            if runs:
                helpers[f"{module.rsplit('.', 1)[-1]}.{name}"] = runs
    return helpers


# Helpers that submit a pipeline themselves, and what they run.
HELPER_BUILDS = _helper_builds()


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
                for name in defined_names(statement):
                    defined[name] = f"{module}.{name}"
                    shown.setdefault(defined[name], index)
        for args in re.findall(r"show_code\(([^)]*)\)", source):
            for dotted in re.findall(r"[\w.]+", args):
                if (path := resolve(dotted)):
                    shown.setdefault(path, index)
        for dotted in re.findall(r"lk\.submit\(\s*([\w.]+)", source):
            if (path := resolve(dotted)):
                runs.append((index, path))
        for helper, builds in HELPER_BUILDS.items():
            if re.search(rf"\b{re.escape(helper)}\(", source):
                runs += [(index, build) for build in sorted(builds)]
    return runs, shown


@pytest.mark.parametrize("chapter", sorted(chapters()))
def test_every_pipeline_a_chapter_runs_is_defined_or_shown_before_it_runs(chapter):
    notebook = nbformat.read(chapters()[chapter], as_version=4)
    runs, shown = _runs_and_shows(notebook)
    missing = sorted({path for index, build in runs for path in _functions_wired_in(_load(build))
                      if shown.get(path, len(notebook.cells)) > index})
    assert missing == [], f"{chapter} runs code it neither defines nor shows first (lk.show_code): {missing}"


def test_every_chapter_cell_that_holds_labkit_code_is_as_labkit_sync_writes_it():
    assert [str(change) for change in sync(write=False)] == [], "run `labkit sync`: edit the module, not the cell"


def _notebook_with(tmp_path, *cells: str) -> dict[str, Path]:
    path = tmp_path / "99_probe.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return {"99": path}


def test_sync_rewrites_a_drifted_definition_and_refuses_cells_it_cannot_write(tmp_path):
    from labkit.pipelines import keyed_count
    original = HEADER.format(path="labkit/pipelines/keyed_count.py") + \
        "\nfrom pyflink.common import Types\n\n\n" + inspect.getsource(keyed_count.CountPerKey).rstrip()
    drifted = original.replace("(self.count.value() or 0) + 1", "(self.count.value() or 0) + 2")
    notebooks = _notebook_with(tmp_path, drifted)
    assert [change.cell for change in sync(write=False, notebooks=notebooks)] == [0]
    assert nbformat.read(notebooks["99"], as_version=4).cells[0].source == drifted  # a check writes nothing
    sync(notebooks=notebooks)
    assert nbformat.read(notebooks["99"], as_version=4).cells[0].source == original
    assert sync(write=False, notebooks=notebooks) == []

    elsewhere = original.replace("from pyflink.common import Types", "from pyflink.table import DataTypes as Types")
    with pytest.raises(SyncError, match="`Types` is imported otherwise"):
        sync(write=False, notebooks=_notebook_with(tmp_path, elsewhere))
    with pytest.raises(SyncError, match="neither an import nor a definition"):
        sync(write=False, notebooks=_notebook_with(tmp_path, original + "\nprint('side effect')\n"))
    with pytest.raises(SyncError, match="defines no `Gone`"):
        sync(write=False, notebooks=_notebook_with(tmp_path, original + "\n\n\nclass Gone:\n    pass\n"))
    reimport = "# as in labkit/pipelines/state_backends.py\nfrom labkit.pipelines.keyed_count import CountPerKey\n"
    with pytest.raises(SyncError, match="imports `CountPerKey` from labkit.pipelines.keyed_count, "
                                        "which an earlier cell defines"):
        sync(write=False, notebooks=_notebook_with(tmp_path, original, reimport))


def test_the_check_finds_a_pipeline_run_before_it_is_shown():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from labkit.pipelines import keyed_count as kc\nlk.show_code(kc.build)"),
        nbformat.v4.new_code_cell("job = lk.submit(kc.build, name='x', records=10)")])
    runs, shown = _runs_and_shows(notebook)
    assert runs == [(1, "labkit.pipelines.keyed_count.build")]
    wired = _functions_wired_in(_load(runs[0][1]))
    count_per_key = "labkit.pipelines.keyed_count.CountPerKey"
    assert count_per_key in wired and count_per_key not in shown
