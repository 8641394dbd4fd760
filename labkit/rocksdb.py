"""What RocksDB itself says about a job's state on the lab's local cluster: the size of its
working files and the options each column family (one per state) really runs with.

Every RocksDB instance of a job lives under the cluster's ``state.backend.rocksdb.localdir`` (the
lab dir's ``rocksdb/``) as ``job_<job id>_op_<operator>_<subtask>__uuid_<…>/db``, and RocksDB
writes the options it was opened with to ``OPTIONS-<n>`` files there. On an attached cluster
those files are on the TaskManagers' own disks, out of reach.
"""
from __future__ import annotations

import configparser
import math
from pathlib import Path

from .cluster import LocalCluster
from .errors import LabError


def job_dirs(job) -> list[Path]:
    if not isinstance(job.cluster, LocalCluster):
        return []
    return sorted(Path(job.cluster.settings.rocksdb_dir).glob(f"job_{job.job_id}_*"))


def disk_bytes(job) -> float:
    """Bytes of the job's RocksDB files (NaN on an attached cluster)."""
    if not isinstance(job.cluster, LocalCluster):
        return math.nan
    total = 0
    for folder in job_dirs(job):
        for path in folder.rglob("*"):
            try:
                total += path.stat().st_size if path.is_file() else 0
            except FileNotFoundError:  # RocksDB deletes compacted files while we walk
                pass
    return float(total)


def column_family_options(job) -> dict[str, dict[str, str]]:
    """``{state name: {option: value}}`` from the newest OPTIONS file of each of the job's
    databases (RocksDB's own ``default`` column family left out)."""
    families: dict[str, dict[str, str]] = {}
    for folder in job_dirs(job):
        files = sorted((folder / "db").glob("OPTIONS-*"), key=lambda f: int(f.name.split("-")[1]))
        if not files:
            continue
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str
        parser.read_string(files[-1].read_text())
        for section in parser.sections():
            if section.startswith("CFOptions ") and section != 'CFOptions "default"':
                families[section.split('"')[1]] = dict(parser[section])
    if not families:
        raise LabError(f"no RocksDB options found for job {job.name}",
                       hint="the job must run on RocksDB on the lab's local cluster, and have processed some records")
    return families
