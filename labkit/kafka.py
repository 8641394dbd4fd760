"""The lab's Kafka broker: one node in KRaft mode (no ZooKeeper), started from the pinned jars.

It listens on 127.0.0.1 only (Kafka's PLAINTEXT listener has no authentication), on a port that
follows the lab's port offset, keeps its log segments under the lab's folder (``<lab>/kafka``,
which ``labkit reset`` deletes) and carries the lab's marker, so ``labkit down`` stops it with the
rest of the lab. On an attached cluster (docker-compose) the broker is the compose one, named by
``LABKIT_KAFKA_BOOTSTRAP``.
"""
from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

from . import jars
from .distribution import find_java
from .errors import KafkaDown, KafkaNotReady, LabError, PortBusy
from .processes import BROKER_MAIN_CLASS, LAB_MARKER, lab_processes, port_owner, tail
from .progress import Polling, Waiting
from .rest import NO_WATERMARK
from .settings import LOOPBACK, LabSettings

BASE_KAFKA_PORT = 9092
# The controller's own listener, far from every other base port so that labs at small offsets
# never take each other's.
BASE_CONTROLLER_PORT = 29093


class KafkaBroker:
    """The lab's broker: ``up()``, ``down()``, ``bootstrap_servers`` and topics."""

    def __init__(self, settings: LabSettings):
        self.settings = settings
        self.port = BASE_KAFKA_PORT + settings.port_offset
        self.controller_port = BASE_CONTROLLER_PORT + settings.port_offset

    @property
    def bootstrap_servers(self) -> str:
        return self.settings.kafka_bootstrap or f"{LOOPBACK}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.settings.lab_dir / "kafka"

    @property
    def log_file(self) -> Path:
        return self.settings.log_dir / "kafka-broker.log"

    # --- the process ---------------------------------------------------------------------
    def pid(self) -> int | None:
        return next((p.pid for p in lab_processes(self.settings.lab_dir) if p.role == "kafka-broker"), None)

    def is_up(self) -> bool:
        host, port = self.bootstrap_servers.split(",")[0].rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
        except OSError:
            return False  # nothing listens: asking a client would only log its retries
        try:
            self.admin(quiet=True).list_topics(timeout=5)
            return True
        except Exception:  # noqa: BLE001 - confluent_kafka raises KafkaException or a timeout
            return False

    def up(self, timeout: float = 60) -> "KafkaBroker":
        """Start the broker (or reuse the running one) and wait until it answers."""
        if self.settings.kafka_bootstrap:
            if not self.is_up():
                raise KafkaDown(f"no Kafka broker answers at {self.bootstrap_servers}",
                                hint="start it (`docker compose up -d kafka`) or unset LABKIT_KAFKA_BOOTSTRAP")
            return self
        if self.pid() is None:
            self._start()
        self._wait_ready(timeout)
        return self

    def _start(self) -> None:
        classpath = os.pathsep.join(str(jar) for jar in jars.require(jars.BROKER))
        for port in (self.port, self.controller_port):
            owner = port_owner(port)
            if owner is not None:
                raise PortBusy(f"port {port} (Kafka broker) on {LOOPBACK} is already in use by {owner}")
        java = find_java()
        for folder in (self.data_dir, self.settings.log_dir, self.settings.conf_dir):
            folder.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            # KRaft keeps its metadata log in the data folder, formatted once with a cluster id.
            formatted = subprocess.run([str(java.executable), "-cp", classpath, "kafka.tools.StorageTool", "format",
                                        "--standalone", f"--cluster-id={cluster_id()}", "-c", str(config)],
                                       capture_output=True, text=True, env=self._env(java))
            if formatted.returncode != 0:
                output = (formatted.stderr or formatted.stdout).strip()[-2000:]
                raise KafkaNotReady(f"formatting the broker's data folder {self.data_dir} failed:\n{output}",
                                    hint="`labkit reset` deletes the lab's folder, broker data too, to start afresh")
        out = self.settings.log_dir / "kafka-broker.out"
        with open(out, "ab") as sink:
            subprocess.Popen(
                [str(java.executable), "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC",
                 f"-Dlog4j2.configurationFile={self._write_log_config()}", "-cp", classpath,
                 BROKER_MAIN_CLASS, str(config)],
                env=self._env(java), stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.settings.lab_dir)

    def _env(self, java) -> dict:
        return {**os.environ, LAB_MARKER: str(self.settings.lab_dir), "JAVA_HOME": str(java.home)}

    def _wait_ready(self, timeout: float) -> None:
        with Waiting("the Kafka broker to answer", at_most=timeout, headless=self.settings.headless) as wait:
            while not self.is_up():
                if self.pid() is None:
                    raise KafkaNotReady("the Kafka broker exited during start-up; the end of its log:\n"
                                        + _tail(self.log_file) + _tail(self.settings.log_dir / "kafka-broker.out"))
                if wait.expired:
                    raise KafkaNotReady(f"the Kafka broker did not answer at {self.bootstrap_servers} "
                                        f"within {timeout:.0f} s; the end of its log:\n" + _tail(self.log_file))
                wait.pause(0.5)

    def _write_config(self) -> Path:
        path = self.settings.conf_dir / "kafka.properties"
        options = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.bootstrap.servers": f"{LOOPBACK}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # One broker: the internal topics (offsets, transactions) cannot have more replicas.
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.num.partitions": 4,
            # Records carry their event time, which for the lab's generated streams lies in the past:
            # kept however old (the default deletes segments whose records are older than 7 days).
            "log.retention.ms": -1,
            # A consumer group's first member starts at once instead of waiting 3 s for others.
            "group.initial.rebalance.delay.ms": 0,
            # Topics are created by the lab with the partitions a chapter asks for, never by a typo.
            "auto.create.topics.enable": "false",
            # Flink's exactly-once sink keeps transactions open for up to 15 minutes by default; the
            # broker must allow at least that.
            "transaction.max.timeout.ms": 15 * 60 * 1000,
        }
        path.write_text("".join(f"{key}={value}\n" for key, value in options.items()))
        return path

    def _write_log_config(self) -> Path:
        path = self.settings.conf_dir / "kafka-log4j2.properties"
        path.write_text("\n".join([
            "appender.file.type = File", "appender.file.name = file", f"appender.file.fileName = {self.log_file}",
            "appender.file.layout.type = PatternLayout", "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO", "rootLogger.appenderRef.file.ref = file",
            # Every fetch and request would be logged at INFO by these: the log would fill the disk.
            "logger.request.name = kafka.request.logger", "logger.request.level = WARN",
            "logger.kafka.name = org.apache.kafka", "logger.kafka.level = WARN", ""]))
        return path

    # --- topics --------------------------------------------------------------------------
    def admin(self, quiet: bool = False):
        """A Kafka admin client of this broker (``quiet``: its connection errors not logged)."""
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.bootstrap_servers, "socket.timeout.ms": 2000,
                            **({"log_level": 0} if quiet else {})})

    def create_topic(self, name: str, partitions: int, replace: bool = False) -> None:
        """Create topic ``name`` with ``partitions`` partitions (deleting an old one if ``replace``)."""
        from confluent_kafka.admin import NewTopic
        admin = self.admin()
        if replace and name in admin.list_topics(timeout=10).topics:
            admin.delete_topics([name])[name].result(30)
            _wait_until(lambda: name not in admin.list_topics(timeout=10).topics, 30, f"topic {name} to go")
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
        _wait_until(lambda: len(admin.list_topics(name, timeout=10).topics[name].partitions) == partitions
                    and admin.list_topics(name, timeout=10).topics[name].error is None, 30, f"topic {name}")

    def partitions(self, name: str) -> int:
        """How many partitions ``name`` has; :class:`LabError` if there is no such topic."""
        topic = self.admin().list_topics(name, timeout=10).topics.get(name)
        if topic is None or topic.error is not None:
            raise LabError(f"there is no topic {name!r} on the broker at {self.bootstrap_servers}",
                           hint="create it first: broker.create_topic(name, partitions)")
        return len(topic.partitions)


def kafka_broker() -> KafkaBroker:
    """The current lab's Kafka broker, started if it is not running (``lk.kafka_broker()``), with
    the Kafka connector loaded in this process, so that a ``KafkaSource`` or ``KafkaSink`` can be
    built before any job is submitted."""
    from .current_lab import current
    broker = KafkaBroker(current().settings).up()
    load_connector_in_client()
    return broker


def load_connector_in_client() -> None:
    """Kafka's source and sink are built in this process's JVM (PyFlink's gateway), which starts
    with the wheel's jars only: the connector the lab's cluster has in lib/ is loaded here too, so
    a job can use it without shipping it (``pipeline.jars``) a second time."""
    connector = jars.verified(jars.CONNECTOR)
    if connector:
        from pyflink.util.java_utils import add_jars_to_context_class_loader
        add_jars_to_context_class_loader([jar.as_uri() for jar in connector])


def publish(bootstrap_servers: str, topic: str, lines, key_and_time=None) -> int:
    """Write ``lines`` to ``topic`` as an application would; returns how many were written.

    ``key_and_time(line)`` gives each line's key (Kafka puts equal keys in one partition, in the
    order they were written) and its record timestamp in ms (the time a ``KafkaSource`` gives the
    record as its event time); ``(None, None)`` or no function: no key, stamped when written.
    Idempotent: a retried send is never written twice, nor out of order."""
    from confluent_kafka import Producer
    # log_level 3: errors only; a broker that has just started answers the first requests with
    # retriable warnings ("coordinator load in progress"), which the producer retries by itself
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True,
                         "linger.ms": 20, "log_level": 3})
    failed = []

    def delivered(error, _message):
        if error is not None:
            failed.append(error)

    written = 0
    for line in lines:
        key, timestamp = key_and_time(line) if key_and_time else (None, None)
        while True:
            try:
                producer.produce(topic, line.encode(), key=None if key is None else key.encode(),
                                 timestamp=timestamp or 0, on_delivery=delivered)
                break
            except BufferError:  # the producer's queue is full: let it send, then try again
                producer.poll(0.1)
        written += 1
        producer.poll(0)
    if producer.flush(60) or failed:
        raise KafkaDown(f"{len(failed) or 'some'} of {written} lines were not written to {topic!r} "
                        f"at {bootstrap_servers}" + (f": {failed[0]}" if failed else ""))
    return written


class TopicReader:
    """Reads topics from their beginning in the background, as an application consuming a job's
    output would, and notes when each record became visible to it (ms since the epoch).

    ``isolation``: ``read_committed`` sees a transaction's records once it commits (and never an
    aborted one's); ``read_uncommitted`` sees every record as soon as it is written."""

    def __init__(self, bootstrap_servers: str, topics: list[str], isolation: str = "read_committed"):
        self.bootstrap_servers = bootstrap_servers
        self.topics = list(topics)
        self.isolation = isolation
        self.records: dict[str, list[tuple[str, int]]] = {topic: [] for topic in self.topics}
        self._stop = threading.Event()
        self._last_record = time.monotonic()
        self._thread = threading.Thread(target=self._read, name="topic-reader", daemon=True)

    def start(self) -> "TopicReader":
        self._thread.start()
        return self

    def _read(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
        consumer = Consumer({"bootstrap.servers": self.bootstrap_servers, "group.id": f"reader-{uuid.uuid4()}",
                             "isolation.level": self.isolation, "enable.auto.commit": False})
        metadata = consumer.list_topics(timeout=10).topics
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)
                         for topic in self.topics for partition in metadata[topic].partitions])
        try:
            while not self._stop.is_set():
                for message in consumer.consume(500, timeout=0.1):
                    if message.error() is None:
                        self.records[message.topic()].append((message.value().decode(), int(time.time() * 1000)))
                        self._last_record = time.monotonic()
        finally:
            consumer.close()

    def stop(self, quiet_s: float = 3.0, timeout: float = 60) -> dict[str, list[tuple[str, int]]]:
        """Stop once no record came for ``quiet_s`` (a last transaction may still commit)."""
        with Polling(at_most=timeout) as poll:
            while time.monotonic() - self._last_record < quiet_s and not poll.expired:
                poll.pause(0.2)
        self._stop.set()
        self._thread.join(15)
        return self.records


def source_readers(job, source: str = "kafka-events", records: int | None = None, timeout: float = 60):
    """One row per reader (subtask) of ``job``'s Kafka source named ``source``, from the cluster's
    metrics: the partitions it reads and the last offset it read in each, the records it emitted,
    the records it knows are still to read (``pendingRecords``) and its output watermark (NaT
    before its first). Waits until every reader reports, and with ``records`` until they have
    emitted that many between them."""
    import pandas as pd
    rest = job.cluster.rest
    vertex = next(v for v in job.vertices() if v["name"].endswith(source))
    readers, prefix = vertex["parallelism"], f"Source__{source}"
    with Waiting(f"the readers of {source!r} to report", at_most=timeout,
                 headless=job.cluster.settings.headless) as wait:
        while True:
            names = rest.vertex_metric_names(job.job_id, vertex["id"])
            wanted = [name for name in names if name.endswith((".currentOffset", ".pendingRecords",
                                                                ".currentOutputWatermark"))
                      or name.count(".") == 1 and name.endswith(".numRecordsOut")]
            values = rest.vertex_metrics(job.job_id, vertex["id"], wanted) if wanted else {}
            reported = all(f"{reader}.{prefix}.currentOutputWatermark" in values
                           and f"{reader}.numRecordsOut" in values for reader in range(readers))
            emitted = sum(values.get(f"{reader}.numRecordsOut", 0) for reader in range(readers))
            if reported and (records is None or emitted >= records) or wait.expired:
                break
            wait.pause(1)
    rows = []
    for reader in range(readers):
        offsets = {int(match.group(1)): int(value) for name, value in values.items()
                   if (match := re.fullmatch(rf"{reader}\.{prefix}\.KafkaSourceReader\.topic\..+\.partition\.(\d+)"
                                             r"\.currentOffset", name))}
        watermark = values.get(f"{reader}.{prefix}.currentOutputWatermark", NO_WATERMARK)
        rows.append({"reader": reader, "partitions": sorted(offsets),
                     "last offset read": [offsets[partition] for partition in sorted(offsets)],
                     "records": int(values.get(f"{reader}.numRecordsOut", 0)),
                     "pending": values.get(f"{reader}.{prefix}.pendingRecords"),
                     "watermark": pd.NaT if watermark <= NO_WATERMARK else pd.to_datetime(int(watermark), unit="ms")})
    return pd.DataFrame(rows).set_index("reader")


def cluster_id() -> str:
    """A new KRaft cluster id: 16 random bytes, base64url without padding, as `kafka-storage
    random-uuid` prints them. Like Kafka's own, never one that starts with "-", which a command
    line reads as an option (one id in 64 would)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def _wait_until(condition, timeout: float, what: str) -> None:
    with Polling(at_most=timeout) as poll:
        while not condition():
            if poll.expired:
                raise KafkaNotReady(f"waited {timeout:.0f} s for {what}")
            poll.pause(0.2)


def _tail(path: Path) -> str:
    return tail(path, 20) if path.exists() else ""
