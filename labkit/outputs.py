"""Where jobs write their results: one folder per job, named after it, in the lab's home."""
from __future__ import annotations

import shutil
from pathlib import Path

from .current_lab import current
from .settings import inside, safe_name


def output_dir(name: str, *, fresh: bool = True, cluster=None) -> Path:
    """The folder where job ``name`` writes its results (emptied when ``fresh``).

    :func:`labkit.submit` calls it for every pipeline that takes an ``output``; call it yourself
    to read a folder again or to share one between jobs.
    """
    safe_name(name, "output name")
    settings = (cluster or current()).settings
    path = inside(settings.lab_dir, settings.job_outputs_dir / name)
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
