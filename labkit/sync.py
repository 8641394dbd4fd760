"""One source for the code a chapter defines: ``labkit sync`` writes it from labkit's modules.

The first chapter that runs a pipeline defines it in its own cells (d2l style), so the learner
reads and may edit the code that runs. Such a cell starts with the header
``# as in labkit/<module>.py ...`` (:data:`HEADER`) and chooses which of the module's imports and
definitions it shows, in which order; the text of each definition is the module's. This module
rewrites every definition in those cells from the module's current source, so a pipeline is
changed in one place (the module) and ``labkit sync`` carries the change into the chapters.

An import in such a cell is kept as written when it binds the name the module binds; a cell that
imports a name from elsewhere, defines something the module lacks, or runs anything but imports
and definitions is an error that says which cell to fix.
"""
from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .chapters import chapters
from .errors import LabError
from .source import module_of_cell

HEADER = "# as in {path} (written from it by `labkit sync`: edit the module, then sync)"


class SyncError(LabError):
    """A chapter's ``# as in`` cell cannot be written from its module."""


@dataclass(frozen=True)
class Change:
    chapter: str
    cell: int  # index among all the notebook's cells
    module_path: str

    def __str__(self) -> str:
        return f"chapter {self.chapter}, cell {self.cell}: written from {self.module_path}"


def module_file(module: str) -> Path:
    """The source file of a dotted labkit module, found without importing it (no PyFlink needed)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SyncError(f"no module {module}", hint="fix the cell's `# as in labkit/...py` header")
    return Path(spec.origin)


def defined_names(statement: ast.stmt) -> list[str]:
    """The names a top-level definition or assignment binds (none for anything else)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, ast.Assign):
        return [target.id for target in statement.targets if isinstance(target, ast.Name)]
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return [statement.target.id]
    return []


def _first_line(statement: ast.stmt) -> int:
    return min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])


def _statement_lines(lines: list[str], statement: ast.stmt) -> list[str]:
    return lines[_first_line(statement) - 1:statement.end_lineno]


def _imports(tree: ast.Module, package: str = "") -> dict[str, tuple[str, str]]:
    """``bound name -> (absolute module, name)`` for every top-level import of a module in ``package``."""
    bound = {}
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom):
            source = importlib.util.resolve_name("." * statement.level + (statement.module or ""), package)
            for alias in statement.names:
                bound[alias.asname or alias.name] = (source, alias.name)
        elif isinstance(statement, ast.Import):
            for alias in statement.names:
                bound[alias.asname or alias.name.split(".")[0]] = (alias.name, "")
    return bound


def synced_cell(source: str, where: str = "a cell") -> str:
    """``source`` (a ``# as in`` cell) with its header and every definition written from the module."""
    module = module_of_cell(source)
    path = module_file(module)
    module_source = path.read_text()
    module_lines = module_source.splitlines()
    module_tree = ast.parse(module_source)
    definitions = {name: statement for statement in module_tree.body for name in defined_names(statement)}
    module_imports = _imports(module_tree, module.rpartition(".")[0])
    relative = f"labkit/{path.relative_to(module_file('labkit').parent).as_posix()}"

    lines = source.splitlines()
    lines[0] = HEADER.format(path=relative)
    tree = ast.parse(source)
    problems = []
    for name, origin in _imports(tree, "labkit").items():
        if module_imports.get(name) != origin:
            problems.append(f"`{name}` is imported otherwise than in {relative}")
    replacements = []
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        names = defined_names(statement)
        missing = [name for name in names if name not in definitions]
        if not names or missing:
            problem = f"{relative} defines no `{missing[0]}`" if missing else "neither an import nor a definition"
            problems.append(f"line {statement.lineno}: " + problem)
            continue
        replacements.append((statement, _statement_lines(module_lines, definitions[names[0]])))
    if problems:
        raise SyncError(f"{where} cannot be written from {relative}: " + "; ".join(problems),
                        hint=f"a `# as in` cell holds only imports and definitions of {relative}: "
                             "fix the cell, or the module, then run `labkit sync` again")
    for statement, text in reversed(replacements):  # from the bottom, so line numbers above stay valid
        lines[_first_line(statement) - 1:statement.end_lineno] = text
    return "\n".join(lines)


def _check_no_reimport(source: str, defined: set[str], where: str) -> None:
    """A ``# as in`` cell must not import from labkit a name an earlier one defined: running it
    would replace the chapter's own definition (and a learner's edit of it) with labkit's."""
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith("labkit"):
            again = [alias.name for alias in statement.names if alias.name in defined]
            if again:
                raise SyncError(f"{where} imports `{again[0]}` from {statement.module}, which an earlier cell defines",
                                hint="drop the import: the chapter's own definition is the one to use")
        defined.update(defined_names(statement))


def sync(write: bool = True, notebooks: dict[str, Path] | None = None) -> list[Change]:
    """Write every chapter's ``# as in`` cells from their modules; return the cells that changed
    (with ``write=False``, the cells that would change, and nothing is written)."""
    changes = []
    for chapter, path in sorted((notebooks or chapters()).items()):
        notebook = nbformat.read(path, as_version=4)
        changed = False
        defined: set[str] = set()
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code" or not module_of_cell(cell.source):
                continue
            where = f"chapter {chapter}, cell {index}"
            _check_no_reimport(cell.source, defined, where)
            synced = synced_cell(cell.source, where)
            if synced != cell.source:
                changes.append(Change(chapter, index, cell.source.splitlines()[0].split()[3]))
                cell.source = synced
                changed = True
        if changed and write:
            nbformat.write(notebook, path)
    return changes
