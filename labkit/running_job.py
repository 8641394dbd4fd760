"""What the cluster and the metrics module ask of a job, written down: a :class:`labkit.job_handle.JobHandle`
offers it, and so may a stand-in in a test. Neither module imports the handle, which sits above them."""
from __future__ import annotations

from typing import Protocol

from .rest import RestClient


class RunningJob(Protocol):
    name: str
    job_id: str
    rest: RestClient  # the client of the cluster the job runs on

    def taskmanager_ids(self) -> set[str]:
        """The ids of the TaskManagers that run the job's tasks now (``Cluster.kill_taskmanager``)."""
        ...

    def wait_running(self, timeout: float = ...) -> RunningJob:
        """Wait until every task of the job runs, or it finished (a measurement starts there)."""
        ...

    def wait_finished(self, timeout: float = ...) -> RunningJob:
        """Wait until the job finished (a bounded job's rate is read at its end)."""
        ...

    def vertex_seconds(self, operator: str) -> float:
        """How long the vertex whose name starts with ``operator`` ran."""
        ...

    def root_cause(self) -> str:
        """The newest failure's deepest cause, as one line (why a measurement saw too few records)."""
        ...
