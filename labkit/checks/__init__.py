"""Autograded exercise checks whose failures tell the learner what is wrong.

In a notebook, an exercise is a solution cell (the code between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` is replaced by a placeholder in student copies, as in nbgrader) followed
by a check cell calling these functions. A failed check raises :class:`CheckFailed`; in
IPython, labkit errors are shown as their message and hint only, not a traceback.

:mod:`.core` holds the primitives (pass, fail, run an answer), :mod:`.answers` the checks of
answers that are a function or a value, :mod:`.whole_jobs` the checks of whole jobs the learner
wires: each runs the job on a scenario of its own and compares it with a reference computed there,
so no answer is in the notebook.
"""
from .answers import (
    check_batching,
    check_bottleneck,
    check_kafka_exactly_once,
    check_profile_tuning,
    check_savepoint_by_hand,
    check_slowest_checkpoint,
    check_smallest_bound,
    check_vectorized_bucket,
    check_watermark_strategy,
    watermark_settings,
)
from .core import (
    check,
    check_defined,
    check_equal,
    check_prediction,
    install_ipython_handler,
    java_summary,
    require,
    run_answer,
    run_table_answer,
)
from .whole_jobs import (
    check_interest_profiles,
    check_last_three,
    check_late_aware_windows,
    check_script_job,
    check_weighted_totals,
)

__all__ = [
    "check_batching",
    "check",
    "check_bottleneck",
    "check_defined",
    "check_equal",
    "check_interest_profiles",
    "check_kafka_exactly_once",
    "check_last_three",
    "check_late_aware_windows",
    "check_prediction",
    "check_profile_tuning",
    "check_savepoint_by_hand",
    "check_script_job",
    "check_slowest_checkpoint",
    "check_smallest_bound",
    "check_vectorized_bucket",
    "check_watermark_strategy",
    "check_weighted_totals",
    "install_ipython_handler",
    "java_summary",
    "require",
    "run_answer",
    "run_table_answer",
    "watermark_settings",
]
