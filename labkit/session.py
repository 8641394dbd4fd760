"""The lab a notebook, a test or the CLI is working with right now."""
from __future__ import annotations

from .cluster import Cluster, LocalCluster, make_cluster
from .errors import ClusterDown, LabError
from .settings import LabSettings

_current: Cluster | None = None


def up(settings: LabSettings | None = None, restart: bool = False, **overrides) -> Cluster:
    """Start the lab's cluster (or reuse the running one) and make it current.

    With LABKIT_REST_URL set, attach to that cluster instead of starting one.
    """
    global _current
    settings = settings or LabSettings.from_env(**overrides)
    cluster = make_cluster(settings)
    if isinstance(cluster, LocalCluster):
        cluster.up(restart=restart)
    elif restart:
        raise LabError(f"labkit cannot restart the attached cluster at {settings.url} with new cluster options",
                       hint="set them where that cluster is started (docker-compose.yml: FLINK_PROPERTIES) and restart "
                            "its containers, or unset LABKIT_REST_URL to use the lab's own cluster")
    elif not cluster.is_up():
        raise ClusterDown(f"no Flink cluster answers at LABKIT_REST_URL={settings.url}",
                          hint="start the workshop cluster (`docker compose up -d`) or unset LABKIT_REST_URL")
    _current = cluster
    return cluster


def current() -> Cluster:
    """The cluster of this session: the one ``up()`` returned, else the configured one if it runs."""
    global _current
    if _current is None:
        cluster = make_cluster()
        if not cluster.is_up():
            raise ClusterDown(f"the lab is not running at {cluster.url}")
        _current = cluster
    return _current


def down() -> list[int]:
    """Stop the current local lab; returns the pids stopped."""
    global _current
    cluster = _current or make_cluster()
    _current = None
    return cluster.down() if isinstance(cluster, LocalCluster) else []
