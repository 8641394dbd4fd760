"""What a JobManager under load can send back: the REST client turns every broken answer into a
typed LabError, and a metrics series survives a few of them instead of ending silently.

A real HTTP server on loopback plays the JobManager; no cluster is needed."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from labkit import metrics
from labkit.errors import ClusterDown, LabError, ServerError
from labkit.rest import RestClient


class _Script:
    """Answers to serve, in order; the last one repeats."""

    def __init__(self, answers):
        self.answers = list(answers)

    def next(self):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def server():
    script = _Script([("json", {})])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            kind, body = script.next()
            if kind == "cut":  # promise more bytes than are sent, then hang up
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"state": "RUN')
                self.close_connection = True
                return
            payload = json.dumps(body).encode() if kind == "json" else body.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}", script=script)
    httpd.shutdown()
    httpd.server_close()


def test_an_answer_that_is_not_json_is_a_server_error(server):
    server.script.answers = [("text", "<html>proxy error</html>")]
    with pytest.raises(ServerError, match="something other than JSON"):
        RestClient(server.url).job("abc")


def test_an_answer_cut_off_midway_is_a_lab_error(server):
    server.script.answers = [("cut", "")]
    with pytest.raises(ClusterDown, match="broke off"):
        RestClient(server.url, timeout=5).job("abc")


def test_a_sampler_survives_broken_answers_and_keeps_their_reasons(server):
    finished = {"state": "FINISHED", "vertices": []}
    server.script.answers = [("text", "oops"), ("cut", ""), ("text", "oops"), ("json", finished)]
    job = SimpleNamespace(name="broken-answers", job_id="abc", rest=RestClient(server.url, timeout=5))
    sampler = metrics.sample(job, interval=0.05, taskmanager_metrics=())
    sampler.wait(10)
    assert not sampler.running
    assert [row["job_state"] for row in sampler.rows] == ["FINISHED"]
    assert len(sampler.errors) == 3 and "ServerError" in sampler.errors[0] and "ClusterDown" in sampler.errors[1]


def test_a_sampler_gives_up_on_a_jobmanager_that_only_fails(server):
    server.script.answers = [("text", "oops")]
    job = SimpleNamespace(name="always-broken", job_id="abc", rest=RestClient(server.url, timeout=5))
    sampler = metrics.sample(job, interval=0.05, taskmanager_metrics=())
    sampler.wait(10)
    assert not sampler.running and not sampler.rows
    assert len(sampler.errors) == metrics.MAX_FAILED_SAMPLES_IN_A_ROW
    assert all(isinstance(e, str) and e.startswith("ServerError") for e in sampler.errors)
    assert issubclass(ServerError, LabError)
