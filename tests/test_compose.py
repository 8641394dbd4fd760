"""The workshop cluster, checked statically (no Docker engine on the CI machines): what a
`docker compose up` would start, and that it keeps the lab's promises (loopback-only ports,
pinned images, health checks, shared checkpoint storage, what labkit needs to attach)."""
import re
from pathlib import Path

import pytest
import yaml

from labkit import jars
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
    assert "flink-sql-connector-kafka-${KAFKA_CONNECTOR_VERSION}.jar /opt/flink/lib/" in DOCKERFILE


def test_the_compose_path_runs_the_kafka_and_connector_versions_of_the_embedded_broker():
    # one truth for both paths: labkit/jars.py pins what `labkit jars` resolves for the lab's own broker
    connector = re.search(r"ARG KAFKA_CONNECTOR_VERSION=(\S+)", DOCKERFILE).group(1)
    assert connector == jars.KAFKA_CONNECTOR_VERSION
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{jars.KAFKA_VERSION}"


def test_the_image_installs_the_python_its_ubuntu_base_has_and_the_workers_use_it():
    # flink:2.3.0-scala_2.12-java17 is Ubuntu 24.04 (noble): python3 is 3.12, python3.11 does not exist
    installs = re.search(r"apt-get install -y --no-install-recommends ([^\\\n&]+)", DOCKERFILE).group(1).split()
    assert installs == ["python3", "python3-venv"] and "python3.11" not in DOCKERFILE
    flink_conf = yaml.safe_load(SERVICES["jobmanager"]["environment"]["FLINK_PROPERTIES"])
    assert flink_conf["python.executable"] == "/opt/lab-venv/bin/python"
    assert flink_conf["python.pythonpath"] == "/opt/lab-venv/lib/python3.12/site-packages"


def test_thread_mode_is_configured_as_on_the_local_lab():
    from labkit.cluster import LocalCluster
    from labkit.cluster_config import cluster_config
    settings = LabSettings(name="compose-check")
    local = cluster_config(settings, LocalCluster(settings).worker_python)
    flink_conf = yaml.safe_load(SERVICES["jobmanager"]["environment"]["FLINK_PROPERTIES"])
    for key in ("classloader.parent-first-patterns.additional", "taskmanager.load-balance.mode"):
        assert flink_conf[key] == local[key], key  # pemja loaded once; a job's instances spread over the TaskManagers
    assert "cp /opt/flink/opt/flink-python-*.jar /opt/flink/lib/" in DOCKERFILE


def test_the_volumes_are_the_flink_users_and_notebooks_save_into_one():
    # a named volume copies the mount point's owner from the image: it must exist, owned by flink
    chown = DOCKERFILE.index("chown -R flink:flink /lab-state /opt/lab/notebooks")
    assert DOCKERFILE.index("mkdir -p /lab-state") < chown < DOCKERFILE.rindex("USER flink")
    assert "COPY notebooks /opt/lab/notebooks" in DOCKERFILE
    jupyter = SERVICES["jupyter"]
    assert "lab-notebooks:/opt/lab/notebooks" in jupyter["volumes"] and "lab-notebooks" in COMPOSE["volumes"]
    assert not any(str(v).startswith("./") for v in jupyter["volumes"]), "a bind mount is written by uid 9999"
    assert jupyter["user"] == "flink"


def test_the_web_ui_link_opens_from_the_hosts_browser(monkeypatch):
    from labkit.cluster import AttachedCluster
    env = SERVICES["jupyter"]["environment"]
    for name in ("LABKIT_REST_URL", "LABKIT_WEB_UI_URL", "LABKIT_HOME"):
        monkeypatch.setenv(name, env[name])
    web_ui = AttachedCluster(LabSettings.from_env()).web_ui
    assert web_ui == "http://127.0.0.1:8081/#/overview"
    assert SERVICES["jobmanager"]["ports"] == ["127.0.0.1:8081:8081"]


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


def test_the_topic_has_a_partition_for_each_reader_of_the_recommenders_kafka_source():
    from labkit.recommender import pipeline as rp
    assert SERVICES["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"] == rp.KAFKA_PARTITIONS


def test_a_python_job_for_an_attached_cluster_brings_flink_python_and_uses_the_clusters_python():
    from labkit.cluster import AttachedCluster, LocalCluster
    from labkit.distribution import flink_distribution
    from labkit.jobs import remote_environment

    def submitted(cluster, config=None) -> dict:
        env = remote_environment(config, cluster)
        return dict(env._j_stream_execution_environment.getConfiguration().toMap())

    attached = submitted(AttachedCluster(LabSettings(rest_url="http://127.0.0.1:9")), {"pipeline.jars": "file:///opt/extra.jar"})
    assert attached["pipeline.jars"].split(";") == [flink_distribution().python_jar.as_uri(), "file:///opt/extra.jar"]
    assert "python.executable" not in attached  # the cluster's own (FLINK_PROPERTIES), not this machine's path
    local_cluster = LocalCluster(LabSettings(name="compose-check"))
    local = submitted(local_cluster)
    assert "pipeline.jars" not in local  # lib/ has the jar
    assert local["python.executable"] == local_cluster.worker_python
    assert local_cluster.worker_python.endswith("python-worker")
