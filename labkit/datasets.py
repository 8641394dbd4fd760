"""The lab's datasets as files: the seeded streams the chapters generate, written where a learner
can open them (the repository's ``data/`` folder), in full or as small committed samples."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .chapters import NOTEBOOKS

DATA = NOTEBOOKS.parent / "data"
SAMPLE_LINES = 200


def _user_events() -> list[str]:
    from .data import out_of_order_stream
    return out_of_order_stream(seed=0).lines


def _clickstream() -> list[str]:
    from .recommender.clickstream import generate_clickstream
    return generate_clickstream(500, malformed_fraction=0.005, seed=1).lines


@dataclass(frozen=True)
class Dataset:
    name: str
    lines: Callable[[], list[str]]
    what: str

    def full_file(self, folder: Path = DATA) -> Path:
        return Path(folder) / f"{self.name}.jsonl"

    def sample_file(self, folder: Path = DATA) -> Path:
        return Path(folder) / f"{self.name}.sample.jsonl"


DATASETS = {d.name: d for d in (
    Dataset("user-events", _user_events, "chapter 04's out-of-order stream (seed 0): 9,600 events of 50 users, "
                                         "up to 1 min late, 1 % planted 8 min late, 0.2 % malformed"),
    Dataset("clickstream", _clickstream, "chapter 07's clickstream at learner size (500 users, seed 1), "
                                         "0.5 % malformed lines"),
)}


def write(folder: Path = DATA, full: bool = True) -> dict[str, list[Path]]:
    """Write each dataset's sample (its first ``SAMPLE_LINES`` lines) and, with ``full``, all of it."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    written = {}
    for dataset in DATASETS.values():
        lines = dataset.lines()
        files = {dataset.sample_file(folder): lines[:SAMPLE_LINES]}
        if full:
            files[dataset.full_file(folder)] = lines
        for path, content in files.items():
            path.write_text("\n".join(content) + "\n")
        written[dataset.name] = list(files)
    return written
