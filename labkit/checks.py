"""Autograded exercise checks whose failures tell the learner what is wrong.

In a notebook, an exercise is a solution cell (the code between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` is replaced by a placeholder in student copies, as in nbgrader) followed
by a check cell calling these functions. A failed check raises :class:`CheckFailed`; in
IPython, labkit errors are shown as their message and hint only, not a traceback.
"""
from __future__ import annotations

import sys
from typing import Any

from .errors import CheckFailed, JobFailed, LabError


def _fail(exercise: str, message: str, hint: str = "") -> None:
    raise CheckFailed(f"✗ Exercise {exercise}: {message}", hint=hint)


def _passed(exercise: str, message: str) -> None:
    # returns nothing, so a check on a cell's last line does not also display "True"
    print(f"✓ Exercise {exercise} passed" + (f": {message}" if message else ""))


def check(exercise: str, condition: bool, failure: str, hint: str = "", success: str = "") -> None:
    if not condition:
        _fail(exercise, failure, hint)
    return _passed(exercise, success)


def check_equal(exercise: str, actual: Any, expected: Any, what: str, hint: str = "") -> None:
    if actual != expected:
        _fail(exercise, f"{what} is {_short(actual)}, expected {_short(expected)}" + _difference(actual, expected),
              hint)
    if isinstance(actual, (dict, list, set, tuple)) and len(repr(actual)) > 80:
        return _passed(exercise, f"{what}: all {len(actual)} entries as expected")
    return _passed(exercise, f"{what} = {_short(actual)}")


def check_defined(exercise: str, namespace: dict, *names: str) -> None:
    missing = [n for n in names if n not in namespace]
    if missing:
        _fail(exercise, f"define {', '.join(missing)} in the exercise cell above first",
              "run the exercise cell (Shift+Enter) before its check")


def require(exercise: str, condition: bool, failure: str, hint: str = "") -> None:
    """A precondition of an exercise's check (the answer's shape, before it is run): fails like
    :func:`check`, prints nothing when met, so "passed" is only said about the result."""
    if not condition:
        _fail(exercise, failure, hint)


def run_answer(exercise: str, build, *, name: str, hint: str, config: dict | None = None, timeout: float = 300):
    """Run a job built with the learner's code to its end; its handle. Code that fails while the
    job is built (a missing method, a value Flink refuses) or a job that fails is a failed check
    saying why, with ``hint``; labkit's own errors (an exercise not answered yet) pass through."""
    from .jobs import submit
    try:
        job = submit(build, name=name, config=config)
    except LabError:
        raise
    except Exception as error:
        _fail(exercise, f"building the job failed: {_reason(error)}", hint)
    try:
        return job.wait_finished(timeout)
    except JobFailed:
        _fail(exercise, f"the job failed: {job.root_cause()[:300]}", hint)


def run_table_answer(exercise: str, build, *, name: str, hint: str, config: dict | None = None):
    """Like :func:`run_answer`, for a Table built with the learner's code: its rows and plan
    (:func:`labkit.collect_table`), or a failed check saying why it could not run."""
    from .jobs import collect_table
    try:
        return collect_table(build, name=name, config=config)
    except LabError:
        raise
    except Exception as error:
        _fail(exercise, f"running your Table failed: {_reason(error)[:300]}", hint)


# Flink's Web UI calls a task backpressured from 10 % of its time on ("LOW", "HIGH").
NOT_BACKPRESSURED_MS = 100
BUSY_MS = 500


def _medians(frame, metric: str) -> dict[str, float]:
    suffix = f".{metric}"
    return {column.removesuffix(suffix): float(frame[column].median())
            for column in frame.columns if column.endswith(suffix)}


def _bottleneck_by_rule(frame) -> str | None:
    busy, backpressured = _medians(frame, "busyTimeMsPerSecond"), _medians(frame, "backPressuredTimeMsPerSecond")
    free = {name: ms for name, ms in busy.items() if ms > BUSY_MS and backpressured.get(name, 0) < NOT_BACKPRESSURED_MS}
    return max(free, key=free.get) if free else None


def _skewed_run():
    """A run in which the busiest operator is not the bottleneck: the source computes its records'
    keys (busy) and waits for buffers part of each second, while one of the two counting subtasks
    gets the hot keys (its vertex is busy 1,000 and 200 ms/s: 600 on average) and never waits."""
    import pandas as pd
    shares = {"sequence": (850.0, 150.0), "count-per-key": (600.0, 0.0), "results": (20.0, 0.0)}
    columns = {}
    for operator, (busy, backpressured) in shares.items():
        columns[f"{operator}.busyTimeMsPerSecond"] = [busy - 10, busy, busy + 10] * 4
        columns[f"{operator}.backPressuredTimeMsPerSecond"] = [backpressured] * 12
    return pd.DataFrame(columns, index=[0.5 * i for i in range(12)])


def check_bottleneck(exercise: str, find_bottleneck, frame) -> None:
    """Exercise 00.1: ``find_bottleneck(frame)`` names the operator that holds the job up, on this
    run and on one where the busiest operator is itself backpressured."""
    require(exercise, callable(find_bottleneck), "find_bottleneck must be a function of the sampled frame",
            hint="def find_bottleneck(frame): ... return the operator's name")
    expected = _bottleneck_by_rule(frame)
    require(exercise, expected is not None, "this run has no operator that is busy and free of backpressure",
            hint="run the burst job's cells again: the job must run flat out")
    for what, run in (("this run", frame), ("a run with a hot key", _skewed_run())):
        try:
            named = find_bottleneck(run)
        except Exception as error:  # noqa: BLE001 - the learner's code: say what it raised
            _fail(exercise, f"find_bottleneck raised {type(error).__name__}: {error} on {what}",
                  hint="columns are named '<operator>.busyTimeMsPerSecond' and "
                       "'<operator>.backPressuredTimeMsPerSecond'")
        if named != _bottleneck_by_rule(run):
            busy = _medians(run, "busyTimeMsPerSecond")
            _fail(exercise, f"on {what}, find_bottleneck named {named!r}, which is not the bottleneck"
                  + (" (it is the busiest operator, but it also waits for output buffers)"
                     if named == max(busy, key=busy.get) else ""),
                  hint="an operator that is backpressured waits for the one after it; "
                       "the bottleneck is busy and not backpressured")
    _passed(exercise, "find_bottleneck names the operator that holds the job up, on this run and on a skewed one")


def _reason(error: Exception) -> str:
    """What went wrong, in Flink's words when it came from the JVM."""
    return error.java_exception.getMessage() if hasattr(error, "java_exception") else f"{type(error).__name__}: {error}"


def watermark_settings(strategy) -> dict:
    """What a PyFlink ``WatermarkStrategy`` will do, read from the Java objects it wraps:
    ``{"generator", "bound_ms", "idleness_ms", "timestamp_assigner"}``. ``bound_ms`` is None for a
    strategy that emits no watermarks, 0 for monotonous timestamps."""
    java = strategy._j_watermark_strategy
    idleness = _java_fields(java).get("idlenessTimeout")
    if idleness is not None:  # with_idleness wraps the strategy it was called on
        java = _java_fields(java)["baseStrategy"]
    generator = java.createWatermarkGenerator(None)
    return {"generator": generator.getClass().getSimpleName(),
            "bound_ms": _java_fields(generator).get("outOfOrdernessMillis"),
            "idleness_ms": idleness.toMillis() if idleness is not None else None,
            "timestamp_assigner": strategy._timestamp_assigner is not None}


def _java_fields(obj) -> dict:
    """A Java object's fields, its classes' and their superclasses', by name (through Py4J)."""
    fields, cls = {}, obj.getClass()
    while cls is not None:
        for field in cls.getDeclaredFields():
            field.setAccessible(True)
            fields.setdefault(field.getName(), field.get(obj))
        cls = cls.getSuperclass()
    return fields


def _difference(actual: Any, expected: Any) -> str:
    """For two dicts, the keys that differ: more useful than two long reprs."""
    if not (isinstance(actual, dict) and isinstance(expected, dict)):
        return ""
    wrong = [k for k in expected if actual.get(k) != expected[k]]
    extra = [k for k in actual if k not in expected]
    parts = [f"{len(wrong)} key(s) differ, e.g. {wrong[0]!r}: {actual.get(wrong[0])!r} "
             f"instead of {expected[wrong[0]]!r}"] if wrong else []
    parts += [f"{len(extra)} unexpected key(s), e.g. {extra[0]!r}"] if extra else []
    return " (" + "; ".join(parts) + ")" if parts else ""


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _show_lab_error(shell, etype, value, tb, tb_offset=None):
    """IPython handler: a LabError shows as its message and hint, without the traceback. It is
    still an error output, so papermill and nbval see the cell fail."""
    short = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, short)
    return short


def install_ipython_handler() -> None:
    # A kernel has imported IPython long before labkit; anywhere else (a Python worker, a script)
    # there is no shell to install into, and importing IPython would only cost time.
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return
    shell = ipython.get_ipython()
    if shell is not None:
        shell.set_custom_exc((LabError,), _show_lab_error)
