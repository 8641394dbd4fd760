"""Parsing of REST payloads and metric series (shapes taken from Flink 2.3 responses)."""
import json

import pandas as pd
import pytest
import requests

from labkit.errors import BadRequest, NotFound, ServerError
from labkit.metrics import steady_rate
from labkit.rest import _error_for, _metric_values, _operation_status


def test_savepoint_status_success_failure_and_in_progress():
    assert _operation_status({"status": {"id": "IN_PROGRESS"}, "operation": None}) == {"status": "IN_PROGRESS"}
    done = _operation_status({"status": {"id": "COMPLETED"},
                              "operation": {"location": "file:/lab/savepoints/savepoint-1"}})
    assert done == {"status": "COMPLETED", "location": "file:/lab/savepoints/savepoint-1"}
    trace = ("java.util.concurrent.CompletionException: x\n\tat a.b\n"
             "Caused by: org.apache.flink.util.FlinkException: Triggering a savepoint failed\n"
             "Caused by: java.nio.file.AccessDeniedException: /proc/savepoint-1\n")
    failed = _operation_status({"status": {"id": "COMPLETED"},
                                "operation": {"failure-cause": {"class": "x", "stack-trace": trace}}})
    assert failed["status"] == "COMPLETED"
    assert failed["failure_cause"] == "java.nio.file.AccessDeniedException: /proc/savepoint-1"
    assert "location" not in failed


def test_metric_values_keeps_numbers_and_skips_text():
    raw = [{"id": "lastCheckpointDuration", "value": "312"}, {"id": "lastCheckpointExternalPath", "value": "n/a"},
           {"id": "numRestarts", "value": "2"}]
    assert _metric_values(raw) == {"lastCheckpointDuration": 312.0, "numRestarts": 2.0}


def _response(status: int, body: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


@pytest.mark.parametrize("status,kind", [(404, NotFound), (400, BadRequest), (500, ServerError)])
def test_http_errors_become_typed_errors_with_the_server_message(status, kind):
    error = _error_for(_response(status, {"errors": ["Job 123 not found"]}), "GET", "http://127.0.0.1:8081/jobs/123")
    assert isinstance(error, kind)
    assert error.status == status and error.server_message == "Job 123 not found"
    assert "Job 123 not found" in str(error) and error.hint


def test_steady_rate_ignores_warmup_and_the_flat_tail():
    # 0 for 3 s (workers booting), then 1000 records/s for 10 s, then flat at the total
    t = [i * 0.5 for i in range(40)]
    counts = [0 if x < 3 else min(10_000, (x - 3) * 1000) for x in t]
    frame = pd.DataFrame({"op.numRecordsIn": counts}, index=pd.Index(t, name="t"))
    assert steady_rate(frame, "op.numRecordsIn") == pytest.approx(1000, rel=0.02)
