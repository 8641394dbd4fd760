"""The workshop cluster, checked statically (no Docker engine on the CI machines): what a
`docker compose up` would start, and that it keeps the lab's promises (loopback-only ports,
pinned images, health checks, shared checkpoint storage, what labkit needs to attach)."""
import re
from pathlib import Path

import pytest
import yaml

from labkit.settings import LabSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()
FLINK_SERVICES = ["jobmanager", "taskmanager-1", "taskmanager-2", "jupyter"]


def test_the_workshop_services_are_all_there():
    assert set(SERVICES) == {*FLINK_SERVICES, "kafka"}
    assert SERVICES["jobmanager"]["command"] == "jobmanager"
    assert [SERVICES[s]["command"] for s in ("taskmanager-1", "taskmanager-2")] == ["taskmanager", "taskmanager"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ports_are_published_on_loopback_only(service):
    for port in SERVICES[service].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"{service} publishes {port} beyond this machine"


def test_images_are_pinned_to_flink_2_3_on_java_17():
    base = re.search(r"^FROM (\S+)", DOCKERFILE, re.M).group(1)
    assert base.startswith("flink:2.3.") and "java17" in base
    images = {s: spec["image"] for s, spec in SERVICES.items() if "image" in spec}
    for service, image in images.items():
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", f"{service} image {image!r} is not pinned"
    connector = re.search(r"ARG KAFKA_CONNECTOR_VERSION=(\S+)", DOCKERFILE).group(1)
    assert re.fullmatch(r"\d+\.\d+\.\d+-2\.3", connector), "the Kafka connector must be built for Flink 2.3"
    assert "flink-sql-connector-kafka-${KAFKA_CONNECTOR_VERSION}.jar /opt/flink/lib/" in DOCKERFILE


def test_health_checks_gate_the_services_that_need_them():
    assert "/overview" in " ".join(SERVICES["jobmanager"]["healthcheck"]["test"])
    assert "kafka-topics.sh" in " ".join(SERVICES["kafka"]["healthcheck"]["test"])
    for service in ("taskmanager-1", "taskmanager-2", "jupyter"):
        assert SERVICES[service]["depends_on"]["jobmanager"] == {"condition": "service_healthy"}
    assert SERVICES["jupyter"]["depends_on"]["kafka"] == {"condition": "service_healthy"}


def test_checkpoints_and_savepoints_go_to_one_volume_every_flink_container_mounts():
    for service in FLINK_SERVICES:
        assert "lab-state:/lab-state" in SERVICES[service]["volumes"], service
    flink_conf = yaml.safe_load(SERVICES["jobmanager"]["environment"]["FLINK_PROPERTIES"])
    assert flink_conf["execution.checkpointing.dir"].startswith("file:///lab-state/")
    assert flink_conf["execution.checkpointing.savepoint-dir"].startswith("file:///lab-state/")
    assert "lab-state" in COMPOSE["volumes"]


def test_jupyter_gets_what_labkit_needs_to_attach(monkeypatch):
    env = SERVICES["jupyter"]["environment"]
    assert env["LABKIT_KAFKA_BOOTSTRAP"] == "kafka:29092"
    monkeypatch.setenv("LABKIT_REST_URL", env["LABKIT_REST_URL"])
    monkeypatch.setenv("LABKIT_HOME", env["LABKIT_HOME"])
    settings = LabSettings.from_env()
    assert settings.attached and settings.url == "http://jobmanager:8081"
    kafka = SERVICES["kafka"]["environment"]
    assert "INTERNAL://kafka:29092" in kafka["KAFKA_ADVERTISED_LISTENERS"]
