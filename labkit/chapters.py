"""The chapter notebooks: where they are, how they are named, and the parameters of each size."""
from __future__ import annotations

from pathlib import Path

from .current_lab import lab_settings
from .errors import LabError, UnknownChapter

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def sized(sizes: dict[str, dict], size: str) -> dict:
    """The parameters a chapter runs with: ``sizes[size]``, where ``size`` comes from the notebook's
    parameters cell (a headless run injects it) unless LABKIT_SIZE says otherwise (nbval runs,
    which cannot inject parameters)."""
    size = lab_settings().size or size
    if size not in sizes:
        raise LabError(f"unknown size {size!r}", hint=f"use one of {sorted(sizes)}")
    return sizes[size]


def chapters(folder: Path = NOTEBOOKS) -> dict[str, Path]:
    """{"00": notebooks/00_lab_tour.ipynb, ...} in chapter order."""
    return {p.name[:2]: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}


def find_chapter(name: str, folder: Path = NOTEBOOKS) -> Path:
    """A chapter by number ("0", "00") or name ("00_lab_tour", "lab_tour")."""
    known = chapters(folder)
    key = name.removesuffix(".ipynb")
    if key.isdigit() and key.zfill(2) in known:
        return known[key.zfill(2)]
    for path in known.values():
        if key in (path.stem, path.stem[3:]):
            return path
    raise UnknownChapter(f"no chapter {name!r}; the chapters are: " + ", ".join(p.stem for p in known.values()))
