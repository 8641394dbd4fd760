"""A job that fails while the learner waits for it is named as failing at once, with its cause and
the line of Python that raised, and is not left restarting (issue: a failing job looked slow)."""
import time

import pytest

import labkit as lk
from labkit.pipelines import keyed_count as kc
from labkit.rest import python_line

TRACE = """org.apache.flink.runtime.JobException: Recovery is suppressed
Caused by: pemja.core.PythonException: <class 'ValueError'>: no price in 'abc'
\tat pyflink/fn_execution/embedded/operations.py.process_element(operations.py:70)
  File "/work/lab/.venv/lib/python3.11/site-packages/pyflink/fn_execution/table/operations.py", line 12, in process
  File "/tmp/ipykernel_4242/1893427.py", line 7, in map
    return float(value.split(",")[1])
  File "/usr/lib/python3.11/json/decoder.py", line 3, in decode
"""


PEMJA_TRACE = """Caused by: pemja.core.PythonException: <class 'ValueError'>: no price in 'abc'
\tat /tmp/ipykernel_4242/1893427.map(1893427.py:7)
\tat /lab/.venv/lib/python3.11/site-packages/pyflink/fn_execution/embedded/operations.process_element(operations.py:93)
\tat pemja.core.object.PyIterator.next(Native Method)
"""


def test_the_line_that_raised_is_the_innermost_frame_outside_installed_libraries():
    assert python_line(TRACE) == "/tmp/ipykernel_4242/1893427.py:7 in map"  # process mode: a Python traceback
    assert python_line(PEMJA_TRACE) == "/tmp/ipykernel_4242/1893427.py:7 in map"  # thread mode: Java's order
    assert python_line("java.lang.IllegalStateException: no Python here") is None


@pytest.mark.cluster
def test_a_job_that_fails_in_a_loop_is_named_failing_at_once_and_cancelled(healthy_cluster):
    # checkpointing on: Flink's default restart strategy then restarts it without end
    job = lk.submit(kc.build, name="t-failing", config=lk.job_config(**{"execution.checkpointing.interval": "1s"}),
                    records=10_000_000, keys=10, rate=1_000, parallelism=1, fail_at=300)
    started = time.monotonic()
    with pytest.raises(lk.JobFailing) as failing:
        job.wait_finished(timeout=300)
    assert time.monotonic() - started < 60, "it waited as if the job were slow"
    message = str(failing.value)
    assert "poison record 300" in message and "count-per-key" in message
    assert "keyed_count.py:" in message and "in process_element" in message  # the line that raised
    assert "cancelled rather than left restarting" in message and failing.value.hint
    assert job.state() == "CANCELED"


@pytest.mark.cluster
def test_a_taskmanager_the_lab_kills_is_a_restart_to_wait_through_not_a_failing_job(healthy_cluster):
    job = lk.submit(kc.build, name="t-killed", config=lk.job_config(**{"execution.checkpointing.interval": "1s"}),
                    records=6_000, keys=10, rate=1_000)
    job.wait_for_checkpoints(2)
    healthy_cluster.kill_taskmanager(job)
    healthy_cluster.start_taskmanager()
    job.wait_finished(timeout=300)  # restarts from its checkpoint and finishes: no JobFailing
    assert kc.read_counts(job.output) == kc.expected_counts(6_000, 10)
