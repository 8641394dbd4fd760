"""Typed errors for the lab. Every error says what went wrong and what to do about it.

All of them derive from :class:`LabError`, so a notebook can catch one thing, and each
carries a ``hint``: the concrete next step for the learner.
"""
from __future__ import annotations


class LabError(Exception):
    """Root of every labkit error."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None):
        self.hint = hint if hint is not None else self.hint
        super().__init__(message)

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  -> {self.hint}" if self.hint else base


# --- the machine -----------------------------------------------------------------------
class JavaMissing(LabError):
    hint = ("install Java 17: `sudo apt-get install -y openjdk-17-jre-headless` (Debian/Ubuntu), "
            "`conda install -c conda-forge openjdk=17`, or set JAVA_HOME to a Java 17 install")


class FlinkDistributionMissing(LabError):
    hint = "install the pinned dependencies: `make setup` (or `pip install -e .`)"


class JarsMissing(LabError):
    hint = ("run `make setup`, which resolves them with Maven (installing it with apt where it can), or "
            "`sudo apt-get install -y maven` and then `.venv/bin/labkit jars`; where Maven cannot reach a "
            "repository, run `labkit jars` on a machine that can and copy its share/flink-state-lab/jars folder")


class PortBusy(LabError):
    hint = ("another program (or another lab) holds the port: run `labkit doctor` to see who, "
            "stop it, or pick other ports with LABKIT_PORT_OFFSET=100 (or `labkit up --port-offset 100`)")


# --- the cluster -----------------------------------------------------------------------
class ClusterError(LabError):
    """Something is wrong with the Flink cluster itself."""


class ClusterDown(ClusterError):
    hint = "start the lab with `labkit up` (or `lk.up()` in a notebook); `labkit status` shows what runs"


class ClusterNotReady(ClusterError):
    hint = ("look at the logs with `labkit logs` (the last lines usually name the cause), "
            "then `labkit down && labkit up`")


class NotSupportedOnAttachedCluster(ClusterError):
    hint = ("process-level fault hooks need the lab's own local cluster; on docker-compose use "
            "`docker compose kill taskmanager-1` and `docker compose start taskmanager-1` instead")


class KafkaDown(LabError):
    hint = "start the lab's broker with `labkit up --kafka` (or `lk.kafka_broker()` in a notebook)"


class KafkaNotReady(LabError):
    hint = ("the broker's log is in the lab's log folder (kafka-broker.log); `labkit down` and "
            "`labkit up --kafka` start it again, `labkit reset` also deletes its topics")


# --- the REST API ----------------------------------------------------------------------
class RestError(LabError):
    """Flink's REST API answered with an error; ``server_message`` keeps what it said."""

    def __init__(self, message: str, status: int, url: str, server_message: str = "",
                 hint: str | None = None):
        self.status = status
        self.url = url
        self.server_message = server_message
        detail = f" (HTTP {status} from {url})"
        if server_message:
            detail += f": {server_message}"
        super().__init__(message + detail, hint)


class NotFound(RestError):
    hint = "the job, vertex or trigger id is not known to this cluster: list jobs with `labkit status`"


class BadRequest(RestError):
    hint = "the request was malformed; the server's message above says which field"


class ServerError(RestError):
    hint = "the JobManager failed to answer; `labkit logs jobmanager` shows its side"


# --- jobs ------------------------------------------------------------------------------
class JobError(LabError):
    """A job did not do what was asked of it."""


class JobFailed(JobError):
    hint = "the root cause is above; `job.exceptions()` gives the full history and `labkit logs` the TaskManager's side"


class JobFailing(JobFailed):
    """A job failed while a wait watched it and restarts under its restart strategy: it would fail
    again on every attempt, so the wait cancelled it."""

    hint = ("fix the cause above and submit the job again; `job.exceptions()` lists every failure, "
            "`labkit logs taskmanager` the TaskManager's side")


class JobTimeout(JobError):
    hint = ("the job did not reach the state in time: check free slots with `labkit status` "
            "and the job's exceptions with `job.exceptions()`")


class JobNotRunning(JobError):
    """A job has no task on a TaskManager where an action needs one (killing the TaskManager that
    runs it): it has not been deployed yet, is restarting, or has ended."""

    hint = ("wait until the job runs (`job.wait_running()`) and kill then, or call kill_taskmanager() "
            "without the job to kill any TaskManager")


class SavepointFailed(JobError):
    hint = ("the savepoint target must be writable by the JobManager and every TaskManager; "
            "use the lab's savepoint directory (the default) or a shared path")


# --- learner input ---------------------------------------------------------------------
class BadName(LabError):
    hint = "use letters, digits, '-' and '_' only (up to 64), e.g. 'alice' or 'ch03-kill'"


class OutsideLab(LabError):
    hint = ("labkit writes and deletes only inside the lab's folder ($LABKIT_HOME/$LABKIT_LAB); "
            "give a plain name, not a path")


class UnknownChoice(LabError, ValueError):
    """An argument names something a function does not know (a stage, a kind); the message lists
    the names it knows. A ValueError too, as Python's own bad arguments are."""

    hint = "use one of the names the message lists"


class UnknownChapter(LabError):
    hint = "chapters are notebooks/NN_name.ipynb; `labkit chapters` lists them"


class MalformedEvent(LabError, ValueError):
    """A user event that cannot be parsed. ``reason`` is a short machine-friendly tag."""

    def __init__(self, reason: str, raw: str = ""):
        self.reason = reason
        self.raw = raw
        super().__init__(f"malformed event ({reason}): {raw[:120]!r}",
                         hint="malformed events go to the job's side output, counted by reason")


class CheckFailed(LabError, AssertionError):
    """An exercise check did not pass. The message is written for the learner."""


class RunInterrupted(LabError):
    """A headless chapter run stopped by Ctrl-C or SIGTERM."""

    hint = ("its kernel is stopped and the jobs it started are cancelled; the lab's cluster still runs "
            "(`labkit status`): run the chapter again, or stop the lab with `labkit down`")


class ClaimFailed(LabError, AssertionError):
    """A sentence of a chapter that states a measurement does not hold on this run."""

    hint = ("the chapter's text says otherwise: on a machine much busier than usual, run the chapter "
            "again; if it fails again, report it with the run's runs/report.md")


class ExerciseNotDone(LabError):
    """A student copy's exercise cell still holds its placeholder."""

    hint = "write your answer in place of the placeholder lines, then run the cell and its check again"
