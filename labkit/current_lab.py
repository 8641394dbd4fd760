"""The current lab: the settings this process works with, read once, and the cluster it works with.

A process reads its lab's settings from the environment once (``LABKIT_*``, see
:mod:`labkit.settings`), on first use: a chapter's kernel when it first sizes itself or calls
``lk.up()``, a script when it first starts the lab. Everything after that is handed these
settings (or the cluster made from them) instead of reading the environment again.
"""
from __future__ import annotations

from .cluster import Cluster, LocalCluster, make_cluster
from .errors import ClusterDown, LabError
from .settings import LabSettings

_settings: LabSettings | None = None
_cluster: Cluster | None = None


def lab_settings() -> LabSettings:
    """This process's lab settings: read from the environment on first use, then kept."""
    global _settings
    if _settings is None:
        _settings = LabSettings.from_env()
    return _settings


def use(settings: LabSettings) -> None:
    """Make ``settings`` this process's lab settings, as if read from the environment (a test
    session's own lab); forgets the current cluster, which belonged to the settings before."""
    global _settings, _cluster
    _settings, _cluster = settings, None


def up(settings: LabSettings | None = None, restart: bool = False, **overrides) -> Cluster:
    """Start the lab's cluster (or reuse the running one) and make it current: with ``settings``,
    or with this process's lab settings and ``overrides`` (e.g. ``taskmanager_memory="2048m"``).

    With LABKIT_REST_URL set, attach to that cluster instead of starting one.
    """
    global _cluster
    settings = settings or lab_settings().overridden(**overrides)
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
    _cluster = cluster
    return cluster


def current() -> Cluster:
    """The cluster of this process: the one ``up()`` returned, else the lab's if it runs."""
    global _cluster
    if _cluster is None:
        cluster = make_cluster(lab_settings())
        if not cluster.is_up():
            raise ClusterDown(f"the lab is not running at {cluster.url}")
        _cluster = cluster
    return _cluster


def down() -> list[int]:
    """Stop the current local lab; returns the pids stopped."""
    global _cluster
    cluster = _cluster or make_cluster(lab_settings())
    _cluster = None
    return cluster.down() if isinstance(cluster, LocalCluster) else []
