"""The lab's Kafka broker and Flink's Kafka connector on the lab's cluster: pinned and verified jars,
a broker that starts, answers, stops with the lab and leaves nothing behind, the connector running
on Flink 2.3 (every published line read back once, per partition), and clear errors for a busy
port, a missing topic and missing jars."""
from __future__ import annotations

import base64
import shutil
import socket
import time
from collections import Counter
from dataclasses import replace

import psutil
import pytest

import labkit as lk
from labkit import cli, jars
from labkit.cluster import LocalCluster
from labkit.data import key_and_time
from labkit.errors import JarsMissing, KafkaDown, PortBusy
from labkit.kafka import KafkaBroker, TopicReader, cluster_id, publish
from labkit.pipelines import exactly_once as eo
from labkit.recommender import clickstream, runs
from labkit.recommender import pipeline as rp


def test_the_pinned_jars_are_verified_and_a_changed_missing_or_extra_jar_is_named(tmp_path):
    assert jars.problems(jars.BROKER) == [] and jars.problems(jars.CONNECTOR) == []
    copy = tmp_path / "connector"
    shutil.copytree(jars.folder(jars.CONNECTOR), copy)
    jar = next(copy.glob("*.jar"))
    changed = bytearray(jar.read_bytes())
    changed[len(changed) // 2] ^= 1
    jar.write_bytes(bytes(changed))
    (copy / "stray.jar").write_bytes(b"not a jar")
    assert jars.problems(jars.CONNECTOR, copy) == [f"{jar.name} does not match its SHA-256 in labkit/jars.lock",
                                                   "stray.jar is not in labkit/jars.lock"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert jars.problems(jars.CONNECTOR, empty) == [f"{jar.name} is missing"]


def test_maven_missing_is_a_clear_error_that_says_how_to_get_the_jars():
    with pytest.raises(JarsMissing, match="Maven") as info:
        jars.resolve(jars.CONNECTOR, maven="mvn-that-is-not-installed")
    assert "apt-get install -y maven" in info.value.hint and "labkit jars" in info.value.hint


def test_a_new_cluster_id_is_16_bytes_and_never_reads_as_a_command_line_option():
    # One base64url id in 64 starts with "-": `kafka-storage format -t -x...` then fails to parse.
    ids = [cluster_id() for _ in range(5_000)]
    assert not [one for one in ids if one.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(one + "==")) == 16 for one in ids) and len(set(ids)) == len(ids)


def test_the_broker_listens_on_loopback_only_at_the_labs_offset_with_its_data_in_the_lab(broker, cluster):
    assert broker.port == 9092 + cluster.settings.port_offset
    listening = {c.laddr.ip for c in psutil.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN and c.pid == broker.pid()}
    assert listening and all(ip.endswith("127.0.0.1") for ip in listening), listening
    assert broker.data_dir.is_relative_to(cluster.settings.lab_dir)
    assert (broker.data_dir / "meta.properties").exists()
    assert "kafka-broker" in {p.role for p in cluster.processes()}


def test_a_busy_port_is_named_before_anything_starts(cluster):
    settings = replace(cluster.settings, name="pytest-kafka-busy", port_offset=cluster.settings.port_offset + 7)
    taken = KafkaBroker(settings)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken.port))
        holder.listen()
        with pytest.raises(PortBusy, match=f"port {taken.port} \\(Kafka broker\\)"):
            taken.up()
    assert taken.pid() is None


def test_down_stops_the_broker_with_the_lab_and_reset_deletes_its_topics(cluster):
    settings = replace(cluster.settings, name="pytest-kafka-life", port_offset=cluster.settings.port_offset + 11)
    other = KafkaBroker(settings).up()
    try:
        other.create_topic("kept", 2)
        pid = other.pid()
        assert KafkaBroker(settings).up().pid() == pid, "a second up() reuses the running broker"
    finally:
        stopped = LocalCluster(settings).down()
    assert pid in stopped and not psutil.pid_exists(pid)
    assert not LocalCluster(settings).processes()
    with pytest.raises(KafkaDown):
        KafkaBroker(replace(settings, kafka_bootstrap=other.bootstrap_servers)).up()
    again = KafkaBroker(settings).up()
    try:
        assert again.partitions("kept") == 2, "topics live in the lab's folder across restarts"
    finally:
        LocalCluster(settings).down()
    assert cli.main(["--lab", settings.name, "reset"]) == 0
    assert not other.data_dir.exists()


def test_every_published_line_is_read_back_once_by_a_bounded_kafka_source_on_flink_2_3(broker, healthy_cluster):
    stream = clickstream.generate_clickstream(20, seed=5, malformed_fraction=0.02)
    broker.create_topic("t-lines", rp.KAFKA_PARTITIONS, replace=True)
    assert publish(broker.bootstrap_servers, "t-lines", stream.lines, key_and_time=key_and_time) == len(stream.lines)
    job = lk.submit(rp.build_from_kafka, name="t-kafka-rec", config=lk.job_config(parallelism=1),
                    bootstrap_servers=broker.bootstrap_servers, topic="t-lines", bounded=True,
                    emit_profiles=True).wait_finished(timeout=300)
    same = runs.run_bounded("t-kafka-rec-files", stream.lines, lk.job_config(parallelism=1), emit_profiles=True)
    # each user's events are in one partition, in order: every profile is the file path's
    assert rp.read_profiles(job.output) == rp.read_profiles(same.output)
    assert sorted(r.seq for r in rp.read_recommendations(job.output)) == [e.metadata["seq"] for e in stream.events]
    assert rp.read_malformed(job.output) == stream.malformed_counts()


def test_a_missing_topic_fails_the_job_at_once_and_says_to_create_it(broker, healthy_cluster):
    with pytest.raises(lk.LabError, match="UnknownTopicOrPartitionException") as info:
        lk.submit(rp.build_from_kafka, name="t-kafka-missing", config=lk.job_config(parallelism=1),
                  bootstrap_servers=broker.bootstrap_servers, topic="no-such-topic",
                  bounded=True).wait_finished(timeout=120)
    assert "create_topic" in info.value.hint


def test_a_broker_killed_mid_job_and_started_again_leaves_every_number_once_under_exactly_once(broker, healthy_cluster):
    numbers = 3_000
    for topic in ("t-eo-in", "t-eo-out", "t-alo-out"):
        broker.create_topic(topic, 1, replace=True)
    publish(broker.bootstrap_servers, "t-eo-in", [str(n) for n in range(numbers)])
    reader = TopicReader(broker.bootstrap_servers, ["t-eo-out", "t-alo-out"]).start()
    job = lk.submit(eo.build, name="t-kafka-outage", config=lk.job_config(checkpoint_interval="1s"),
                    bootstrap_servers=broker.bootstrap_servers, source_topic="t-eo-in",
                    exactly_once_topic="t-eo-out", at_least_once_topic="t-alo-out", rate=300)
    job.wait_for_checkpoints(2)
    healthy_cluster.kill_kafka_broker()
    time.sleep(3)
    KafkaBroker(healthy_cluster.settings).up()
    job.wait_finished(timeout=300)
    seen = reader.stop()
    exactly_once = Counter(value.split("|")[0] for value, _ in seen["t-eo-out"])
    assert exactly_once == {str(n): 1 for n in range(numbers)}
    assert set(value.split("|")[0] for value, _ in seen["t-alo-out"]) == set(exactly_once)
