"""The Flink distribution bundled in the apache-flink wheel, and the Java that runs it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import FlinkDistributionMissing, JavaMissing

# Flink 2.x runs on Java 17 and 21; the lab is tested on 17, so 17 is preferred when both are there.
SUPPORTED_JAVA = (17, 21)


@dataclass(frozen=True)
class FlinkDistribution:
    home: Path

    @property
    def bin(self) -> Path:
        return self.home / "bin"

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def default_config(self) -> Path:
        return self.home / "conf" / "config.yaml"

    @property
    def python_jar(self) -> Path:
        jars = sorted((self.home / "opt").glob("flink-python-*.jar"))
        if not jars:
            raise FlinkDistributionMissing(f"no flink-python jar under {self.home / 'opt'}")
        return jars[0]

    @property
    def version(self) -> str:
        from pyflink.version import __version__
        return __version__


@lru_cache(maxsize=1)
def flink_distribution() -> FlinkDistribution:
    try:
        import pyflink
    except ImportError as exc:
        raise FlinkDistributionMissing(f"PyFlink is not installed in {sys.executable} ({exc})") from None
    home = Path(pyflink.__file__).parent
    if not (home / "bin" / "jobmanager.sh").exists() or not list((home / "lib").glob("flink-dist-*.jar")):
        raise FlinkDistributionMissing(f"{home} has no bin/jobmanager.sh or lib/flink-dist jar")
    return FlinkDistribution(home)


def lab_python() -> str:
    """This environment's interpreter under one canonical name (``python`` vs ``python3``
    would otherwise make a notebook kernel and the CLI disagree about the cluster's config)."""
    canonical = Path(sys.prefix) / "bin" / "python"
    return str(canonical) if canonical.exists() else sys.executable


@dataclass(frozen=True)
class JavaInstall:
    executable: Path
    version: int
    description: str

    @property
    def home(self) -> Path:
        return self.executable.resolve().parent.parent


def _java_candidates() -> list[Path]:
    found = []
    if os.environ.get("JAVA_HOME"):
        found.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    if shutil.which("java"):
        found.append(Path(shutil.which("java")))
    found += sorted(Path("/usr/lib/jvm").glob("*17*/bin/java")) + sorted(Path("/usr/lib/jvm").glob("*21*/bin/java"))
    # conda's openjdk puts java next to the environment's python.
    found.append(Path(sys.prefix) / "bin" / "java")
    return [p for p in found if p.exists()]


def _java_version(executable: Path) -> tuple[int, str]:
    out = subprocess.run([str(executable), "-version"], capture_output=True, text=True, timeout=30)
    text = (out.stderr or out.stdout).strip()
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return 0, text.splitlines()[0] if text else "unknown"
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    return major, text.splitlines()[0]


@lru_cache(maxsize=1)
def find_java() -> JavaInstall:
    """Return a Java 17 install (else a Java 21 one), or raise :class:`JavaMissing` saying what was
    found instead."""
    installs = [(candidate, *_java_version(candidate)) for candidate in _java_candidates()]
    for wanted in SUPPORTED_JAVA:
        for candidate, major, description in installs:
            if major == wanted:
                return JavaInstall(candidate, major, description)
    seen = [f"{candidate}: {description}" for candidate, _, description in installs]
    if seen:
        raise JavaMissing("Flink 2.3 in this lab needs Java 17 or 21, but only found:\n    " + "\n    ".join(seen))
    raise JavaMissing("no Java found (checked JAVA_HOME, PATH and /usr/lib/jvm)")
