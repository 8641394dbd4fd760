"""The REST transport: readiness polling rides out a JobManager that answers 503 while it elects its
leader, and loopback is reached past a proxy setting."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from labkit.cluster import AttachedCluster
from labkit.rest import RestClient
from labkit.settings import LabSettings

OVERVIEW = {"taskmanagers": 1, "slots-total": 4, "slots-available": 4, "jobs-running": 0, "jobs-finished": 0,
            "jobs-cancelled": 0, "jobs-failed": 0, "flink-version": "2.3.0"}


class RunningJobManager(BaseHTTPRequestHandler):
    """Answers like Flink's REST endpoint of a running cluster: the overview."""
    answered = 0

    def answer(self) -> tuple[int, dict]:
        return 200, OVERVIEW

    def do_GET(self):
        type(self).answered += 1
        status, body = self.answer()
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class StartingJobManager(RunningJobManager):
    """Right after start: 503 twice, then the overview."""

    def answer(self) -> tuple[int, dict]:
        if type(self).answered <= 2:
            return 503, {"errors": ["Service temporarily unavailable due to an ongoing leader election. "
                                    "Please refresh."]}
        return super().answer()


def test_wait_ready_polls_through_503_during_leader_election():
    server = HTTPServer(("127.0.0.1", 0), StartingJobManager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cluster = AttachedCluster(LabSettings(rest_url=f"http://127.0.0.1:{server.server_port}"))
        assert not cluster.is_up()  # the first 503
        overview = cluster.wait_ready(taskmanagers=1, slots=4, timeout=10)
        assert overview["slots_total"] == 4 and StartingJobManager.answered == 3
    finally:
        server.shutdown()


def test_the_rest_client_reaches_loopback_past_a_proxy_setting(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), RunningJobManager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # a proxy that does not exist: any request sent to it fails
        for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(variable, "http://127.0.0.1:9")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert RestClient(f"http://127.0.0.1:{server.server_port}").get("/overview") == OVERVIEW
    finally:
        server.shutdown()
