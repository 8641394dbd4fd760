"""The checks' primitives: pass or fail with a message and a hint, run a learner's job or Table
and turn what goes wrong into a failed check, and show Java's errors in a notebook briefly."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import CheckFailed, JobFailed, LabError


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


def check_prediction(exercise: str, prediction: dict, measured: dict, hint: str = "") -> None:
    """A prediction against what the cluster did, without showing what it did: the parts that
    differ are named, their outcomes are not (predict again, then look at the run)."""
    require(exercise, isinstance(prediction, dict) and set(prediction) == set(measured),
            f"predict each of {sorted(measured)}, in a dict", hint="one entry per read, as in the example")
    wrong = [part for part in measured if prediction[part] != measured[part]]
    check(exercise, not wrong, f"{len(wrong)} of {len(measured)} predictions differ from what the cluster did: "
                               + ", ".join(map(str, wrong)), hint=hint,
          success=f"all {len(measured)} predictions match what the cluster did")


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


def job_name(exercise: str) -> str:
    """The name of an exercise check's job: "exercise-03-5" (a name Flink and folders accept)."""
    return f"exercise-{exercise.replace('.', '-')}"


def input_file(exercise: str, lines) -> Path:
    """``lines`` written to a fresh file in the lab's folder, as the input of an exercise's job."""
    from ..current_lab import current
    from ..outputs import output_dir
    path = output_dir(f"{job_name(exercise)}-input", cluster=current()) / "events.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def submit_answer(exercise: str, build, *, name: str, hint: str, config: dict | None = None, **params):
    """Submit a job built with the learner's code (``build(env, **params)``); its handle. Code that
    fails while the job is built (a missing method, a value Flink refuses) is a failed check saying
    why, with ``hint``; labkit's own errors (an exercise not answered yet) pass through."""
    from ..jobs import submit
    try:
        return submit(build, name=name, config=config, **params)
    except LabError:
        raise
    except Exception as error:
        _fail(exercise, f"building the job failed: {_reason(error)}", hint)


def finish_answer(exercise: str, job, hint: str, timeout: float = 300):
    """Wait for a learner's job to finish; a job that fails is a failed check saying why."""
    try:
        return job.wait_finished(timeout)
    except JobFailed:
        _fail(exercise, f"the job failed: {job.root_cause()[:300]}", hint)


def run_answer(exercise: str, build, *, name: str, hint: str, config: dict | None = None, timeout: float = 300,
               **params):
    """Run a job built with the learner's code to its end (:func:`submit_answer`,
    :func:`finish_answer`); its handle."""
    job = submit_answer(exercise, build, name=name, hint=hint, config=config, **params)
    return finish_answer(exercise, job, hint, timeout)


def run_table_answer(exercise: str, build, *, name: str, hint: str, config: dict | None = None):
    """Like :func:`run_answer`, for a Table built with the learner's code: its rows and plan
    (:func:`labkit.collect_table`), or a failed check saying why it could not run."""
    from ..jobs import collect_table
    try:
        return collect_table(build, name=name, config=config)
    except LabError:
        raise
    except Exception as error:
        _fail(exercise, f"running your Table failed: {_reason(error)[:300]}", hint)


def _within(seconds: float, function, *args):
    """``function(*args)`` on a daemon thread: (returned, raised), or a timeout of its own."""
    import threading
    outcome: dict = {}

    def run():
        try:
            outcome["returned"] = function(*args)
        except Exception as error:  # noqa: BLE001 - the learner's code: the check says what it raised
            outcome["raised"] = error
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return None, TimeoutError(f"still running after {seconds:.0f} s")
    return outcome.get("returned"), outcome.get("raised")


def _reason(error: Exception) -> str:
    """What went wrong, in Flink's words when it came from the JVM."""
    return java_summary(error) if hasattr(error, "java_exception") else f"{type(error).__name__}: {error}"


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


def java_summary(error) -> str:
    """The first useful line of a Java exception raised through Py4J: the innermost cause that has a
    message (outer exceptions wrap it: "Could not parse value ..." sits under a chain of them)."""
    throwable, seen = error.java_exception, []
    while throwable is not None and len(seen) < 50:
        seen.append(f"{throwable.getClass().getSimpleName()}: {throwable.getMessage()}")
        cause = throwable.getCause()
        throwable = None if cause is None or cause.equals(throwable) else cause
    return next((line for line in reversed(seen) if not line.endswith(": None")), seen[0])


def _show_error(shell, etype, value, tb, tb_offset=None):
    """IPython handler: a LabError shows as its message and hint, a Java exception as its first
    useful line, without the traceback (``%tb`` prints it). Both stay error outputs, so papermill
    and nbval see the cell fail."""
    if isinstance(value, LabError):
        short = [f"{etype.__name__}: {value}"]
    else:
        short = [f"{etype.__name__} from Java: {java_summary(value)}",
                 "  -> the whole Java stack trace: run %tb in the next cell"]
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
        from py4j.protocol import Py4JJavaError  # pure Python, PyFlink's bridge: no JVM is started
        shell.set_custom_exc((LabError, Py4JJavaError), _show_error)
