"""Readiness polling rides out a JobManager that answers 503 while it elects its leader."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from labkit.cluster import AttachedCluster
from labkit.settings import LabSettings

OVERVIEW = {"taskmanagers": 1, "slots-total": 4, "slots-available": 4, "jobs-running": 0, "jobs-finished": 0,
            "jobs-cancelled": 0, "jobs-failed": 0, "flink-version": "2.3.0"}


class StartingJobManager(BaseHTTPRequestHandler):
    """Answers like Flink's REST endpoint right after start: 503 twice, then the overview."""
    answered = 0

    def do_GET(self):
        type(self).answered += 1
        starting = type(self).answered <= 2
        body = {"errors": ["Service temporarily unavailable due to an ongoing leader election. Please refresh."]} \
            if starting else OVERVIEW
        payload = json.dumps(body).encode()
        self.send_response(503 if starting else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


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
