"""The JVM artifacts the lab adds to the PyFlink wheel: a Kafka broker and Flink's Kafka connector.

Both come from Maven Central, at pinned versions, resolved by ``labkit jars`` (which `make setup`
runs) into this environment (``<venv>/share/flink-state-lab/jars``, Maven's own download cache
beside them), and checked against ``jars.lock``, the SHA-256 of every jar, before anything uses
them. The same versions build the docker-compose image (a test holds the two together).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import JarsMissing

KAFKA_VERSION = "4.2.0"  # the kafka-clients the connector below is built with: one Kafka throughout
# The newest connector release is built against Flink 2.2 (there is no -2.3 artifact); a test runs
# it on the lab's Flink 2.3.
KAFKA_CONNECTOR_VERSION = "5.0.0-2.2"
LOG4J_VERSION = "2.24.3"  # the log4j-core Kafka depends on, and its binding for Kafka's SLF4J logging

LOCK_FILE = Path(__file__).with_name("jars.lock")


@dataclass(frozen=True)
class JarSet:
    """One folder of jars: what Maven resolves from ``artifacts`` (with their dependencies unless
    ``transitive`` is false)."""

    name: str
    artifacts: tuple[str, ...]
    transitive: bool
    purpose: str


BROKER = JarSet("kafka-broker", (f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
                                 f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}"),
                transitive=True, purpose="the Kafka broker `labkit up --kafka` starts")
# flink-sql-connector-kafka is the connector with the Kafka client shaded into it: one jar, nothing
# else on the cluster's class path to clash with.
CONNECTOR = JarSet("kafka-connector",
                   (f"org.apache.flink:flink-sql-connector-kafka:{KAFKA_CONNECTOR_VERSION}",),
                   transitive=False, purpose="KafkaSource and KafkaSink on the lab's cluster")
JAR_SETS = (BROKER, CONNECTOR)


def jars_home() -> Path:
    return Path(sys.prefix) / "share" / "flink-state-lab" / "jars"


def folder(jar_set: JarSet) -> Path:
    return jars_home() / jar_set.name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _locked() -> dict[str, dict[str, str]]:
    return json.loads(LOCK_FILE.read_text()) if LOCK_FILE.exists() else {}


def problems(jar_set: JarSet, where: Path | None = None) -> list[str]:
    """What is wrong with ``jar_set``'s folder (or ``where``) against the lock: nothing when it is
    ready to use."""
    expected = _locked().get(jar_set.name, {})
    there = {jar.name: jar for jar in (where or folder(jar_set)).glob("*.jar")}
    found = []
    for name, digest in sorted(expected.items()):
        if name not in there:
            found.append(f"{name} is missing")
        elif _sha256(there[name]) != digest:
            found.append(f"{name} does not match its SHA-256 in labkit/jars.lock")
    found += [f"{name} is not in labkit/jars.lock" for name in sorted(set(there) - set(expected))]
    return found


def require(jar_set: JarSet) -> list[Path]:
    """The jars of ``jar_set``, verified; :class:`JarsMissing` says how to get them otherwise."""
    wrong = problems(jar_set)
    if wrong:
        raise JarsMissing(f"the jars for {jar_set.purpose} are not ready in {folder(jar_set)}: "
                          + "; ".join(wrong[:3]) + (f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""))
    return sorted(folder(jar_set).glob("*.jar"))


def verified(jar_set: JarSet) -> list[Path]:
    """The jars of ``jar_set`` if they are ready to use, else none (for what works without them)."""
    return [] if problems(jar_set) else sorted(folder(jar_set).glob("*.jar"))


def _pom(jar_set: JarSet) -> str:
    exclusions = "" if jar_set.transitive else (
        "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>")
    dependencies = "".join(
        f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version>{exclusions}</dependency>"
        for group, artifact, version in (coordinate.split(":") for coordinate in jar_set.artifacts))
    return ('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            f'<groupId>flink-state-lab</groupId><artifactId>{jar_set.name}</artifactId><version>1</version>'
            f'<packaging>pom</packaging><dependencies>{dependencies}</dependencies></project>')


def resolve(jar_set: JarSet, maven: str = "mvn") -> None:
    """Download ``jar_set`` with Maven (checksums checked against the repository's) into its folder."""
    if shutil.which(maven) is None:
        raise JarsMissing("Maven (mvn) is not installed")
    target = folder(jar_set)
    with tempfile.TemporaryDirectory(dir=jars_home()) as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_pom(jar_set))
        command = [maven, "-B", "-q", "--strict-checksums", "-f", str(pom),
                   f"-Dmaven.repo.local={jars_home() / 'maven-cache'}",
                   "dependency:copy-dependencies", f"-DoutputDirectory={Path(work) / 'jars'}",
                   "-DincludeScope=runtime"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise JarsMissing(f"Maven could not resolve {', '.join(jar_set.artifacts)}:\n"
                              + (done.stdout + done.stderr).strip()[-2000:])
        if target.exists():
            shutil.rmtree(target)
        shutil.move(Path(work) / "jars", target)


def ensure(maven: str = "mvn", write_lock: bool = False) -> list[str]:
    """Resolve every jar set that is not ready; returns one line per set. ``write_lock`` records
    what was resolved as the new lock (for a maintainer who changed a version above)."""
    jars_home().mkdir(parents=True, exist_ok=True)
    lines = []
    for jar_set in JAR_SETS:
        if write_lock or problems(jar_set):
            resolve(jar_set, maven)
        if write_lock:
            lock = _locked()
            lock[jar_set.name] = {jar.name: _sha256(jar) for jar in sorted(folder(jar_set).glob("*.jar"))}
            LOCK_FILE.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
        jars = require(jar_set)
        lines.append(f"{jar_set.name}: {len(jars)} jar(s) verified in {folder(jar_set)}")
    return lines
