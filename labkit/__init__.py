"""labkit: the helper package of Flink State Lab. ``import labkit as lk``.

    lk.up()                      start (or reuse) the lab's local Flink cluster
    lk.sized(SIZES, size)        a chapter's parameters for its size (ci / learner)
    lk.submit(build, name=...)   run a pipeline built by ``build(env)``; returns a JobHandle
    lk.live(job)                 live dashboard of the job's metrics
    lk.Timeline({label: job})    several jobs' checkpoints and restarts on one time axis
    lk.Compare({label: job})     several jobs' throughput, checkpoints and memory side by side
    lk.current().kill_taskmanager()   fault injection
"""
from . import checks, data, metrics
from .checks import install_ipython_handler as _install_ipython_handler
from .compare import Compare
from .dashboard import LiveDashboard, headless, live
from .data import EventLog, Replayer, UserEvent, generate_user_events, parse_event, stable_hash
from .errors import *  # noqa: F401,F403  (the typed errors are part of the public API)
from .jobs import JobHandle, cancel_all, job_config, remote_environment, run_script, submit, submit_sql
from .metrics import MetricsSampler, measure_rate, sample, steady_rate
from .runner import sized
from .session import current, down, up
from .settings import LabSettings
from .timeline import Timeline

_install_ipython_handler()
