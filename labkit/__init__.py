"""labkit: the helper package of Flink State Lab. ``import labkit as lk``.

    lk.up()                      start (or reuse) the lab's local Flink cluster
    lk.sized(SIZES, size)        a chapter's parameters for its size (ci / learner)
    lk.show_code(kc.build)       the source of what a job runs, highlighted where the learner reads it
    lk.submit(build, name=..., **params)   run the pipeline ``build(env, **params)``; returns a
                                 JobHandle whose ``output`` is the folder the job writes to
    lk.live(job)                 live dashboard of the job's metrics
    lk.Timeline({label: job})    several jobs' checkpoints and restarts on one time axis
    lk.Compare({label: job})     several jobs' throughput, checkpoints and memory side by side
    lk.current().kill_taskmanager()   fault injection
    lk.kafka_broker()            start (or reuse) the lab's Kafka broker

Every Python worker that runs one of the lab's functions imports this package first (the
functions live in ``labkit.pipelines``), so the public names below are imported on first use:
a worker does not pay for pandas, matplotlib or the dashboards it never touches.
"""
from importlib import import_module

from .checks import install_ipython_handler as _install_ipython_handler

# public name -> the module that defines it
_PUBLIC = {
    "up": "current_lab", "down": "current_lab", "current": "current_lab",
    "kafka_broker": "kafka", "KafkaBroker": "kafka", "TopicReader": "kafka", "publish": "kafka",
    "LabSettings": "settings",
    "sized": "chapters", "show_code": "source", "claim": "claims",
    "job_config": "jobs", "submit": "jobs", "submit_sql": "jobs", "run_script": "jobs", "remote_environment": "jobs",
    "collect_table": "jobs", "TableRun": "jobs",
    "JobHandle": "job_handle", "cancel_all": "job_handle", "output_dir": "outputs",
    "MetricsSampler": "metrics", "sample": "metrics", "measure_rate": "metrics", "steady_rate": "metrics",
    "live": "dashboard", "headless": "dashboard", "LiveDashboard": "dashboard",
    "Timeline": "timeline", "Compare": "compare",
    "EventLog": "data", "Replayer": "data", "UserEvent": "data", "generate_user_events": "data",
    "parse_event": "data", "stable_hash": "data",
    **{error: "errors" for error in (
        "LabError", "JavaMissing", "FlinkDistributionMissing", "PortBusy", "ClusterError", "ClusterDown",
        "ClusterNotReady", "NotSupportedOnAttachedCluster", "RestError", "NotFound", "BadRequest", "ServerError",
        "JobError", "JobFailed", "JobFailing", "JobTimeout", "JobNotRunning", "SavepointFailed", "UnknownChoice",
        "UnknownChapter", "BadName", "OutsideLab", "MalformedEvent", "CheckFailed", "ClaimFailed", "ExerciseNotDone",
        "JarsMissing", "KafkaDown", "KafkaNotReady", "RunInterrupted")},
}
_SUBMODULES = ("checks", "data", "metrics", "jobs")

__all__ = sorted([*_PUBLIC, *_SUBMODULES])


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__


_install_ipython_handler()
