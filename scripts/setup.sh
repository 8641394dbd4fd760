#!/usr/bin/env bash
# Sets up Flink State Lab on a fresh Debian/Ubuntu machine (or any machine with Python 3.11 or 3.12):
#   - makes sure Java 17 (or 21) is there (installs 17 with apt where that is allowed),
#   - creates .venv with Python 3.11 or 3.12 and the pinned dependencies, and labkit itself (editable).
# Safe to run again: it only reinstalls when requirements.txt or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }

java_major() {
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

# Java 17, else 21 (Flink 2.x supports both; the lab is tested on 17). labkit looks the same way.
find_java17() {
  local candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
  for j in /usr/lib/jvm/*17*/bin/java /usr/lib/jvm/*21*/bin/java; do [ -x "$j" ] && candidates+=("$j"); done
  for major in 17 21; do
    for j in "${candidates[@]}"; do
      [ -x "$j" ] && [ "$(java_major "$j")" = "$major" ] && { echo "$j"; return 0; }
    done
  done
  return 1
}

# --- Java 17 -------------------------------------------------------------------------------
if java17=$(find_java17); then
  say "Java $(java_major "$java17"): $java17"
else
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    say "Java 17 not found: installing openjdk-17-jre-headless with apt"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null \
      || die "apt could not install openjdk-17-jre-headless. Install a Java 17 yourself (e.g. 'conda env create -f environment.yml && conda activate flink-state-lab', which brings openjdk 17 and sets JAVA_HOME) and run this again."
    java17=$(find_java17) || die "Java 17 was installed but not found; set JAVA_HOME to it."
    say "Java 17: $java17"
  else
    die "Java 17 is required and cannot be installed automatically here. Install it:
    Debian/Ubuntu:  sudo apt-get install -y openjdk-17-jre-headless
    macOS:          brew install openjdk@17
    conda:          conda env create -f environment.yml && conda activate flink-state-lab   (Python 3.11 and openjdk 17)
  then set JAVA_HOME if it is not the default java, and run this again."
  fi
fi

# --- Python 3.11 or 3.12 and the pinned dependencies -------------------------------------------
supported='import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))'
PYTHON=${PYTHON:-}
if [ -n "$PYTHON" ]; then
  "$PYTHON" -c "$supported" 2>/dev/null || die "PYTHON=$PYTHON is not Python 3.11 or 3.12 (apache-flink 2.3 ships wheels for those)."
else
  for candidate in python3.11 python3.12 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "$supported" 2>/dev/null; then
      PYTHON=$candidate; break
    fi
  done
fi
[ -n "$PYTHON" ] || die "Python 3.11 or 3.12 is required (apache-flink 2.3 and the pinned stack). Install python3.12 (Ubuntu 24.04) or python3.11, or take both Python and Java from conda: 'conda env create -f environment.yml && conda activate flink-state-lab', then run this again."

if [ -x .venv/bin/python ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  # e.g. made by a python3 -m venv without ensurepip (Debian without python3.X-venv): every rerun would fail
  say ".venv has no pip: removing it to make it again"
  rm -rf .venv
fi

UV_VERSION=0.13.9
stamp=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ "$(cat .venv/.labkit-stamp 2>/dev/null)" = "$stamp" ]; then
  say "environment .venv is up to date"
else
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $($PYTHON --version) ($(command -v "$PYTHON"))"
    "$PYTHON" -m venv .venv || die "could not create a virtual environment: install the venv module (Debian/Ubuntu: sudo apt-get install -y python3-venv, or python3.X-venv for $($PYTHON --version))"
  fi
  say "installing the pinned dependencies"
  # uv fetches and installs the pinned wheels in parallel, much faster than pip (docs/instructor.md,
  # "Setup", gives both times); pip does the same job where uv cannot be had. Copies, not links
  # into uv's cache, so nothing in .venv is shared with it.
  if .venv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION" 2>/dev/null \
      && .venv/bin/uv pip install -q --link-mode=copy --python .venv/bin/python -r requirements.txt \
      && .venv/bin/uv pip install -q --link-mode=copy --python .venv/bin/python --no-deps -e .; then
    :
  else
    say "uv unavailable: installing with pip (slower than uv)"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e . 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  fi
  echo "$stamp" > .venv/.labkit-stamp
fi

# --- the Kafka broker and Flink's Kafka connector (Maven Central) ------------------------------
# Pinned in labkit/jars.py, verified against labkit/jars.lock; `labkit jars` only downloads what is
# missing or does not match. Maven comes from apt where it is missing, as Java does.
if ! command -v mvn >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    say "Maven not found: installing it with apt (it fetches the Kafka jars)"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null \
      || die "apt could not install maven. Install Maven 3 yourself, then run this again."
  else
    die "Maven is needed to fetch the Kafka broker and connector jars and cannot be installed automatically here.
    Debian/Ubuntu:  sudo apt-get install -y maven
    macOS:          brew install maven
    conda:          conda install -c conda-forge maven
  then run this again. Without Maven: run '.venv/bin/labkit jars' on a machine that has it and copy
  its .venv/share/flink-state-lab/jars folder here."
  fi
fi
.venv/bin/labkit jars | sed 's/^/[setup] /' || die "the Kafka jars could not be resolved (the error is above): check the network to Maven Central (repo1.maven.org), or copy .venv/share/flink-state-lab/jars from a machine where '.venv/bin/labkit jars' works."

# --- what labkit doctor finds -------------------------------------------------------------------
# Every problem is shown with its fix. Java and the Flink distribution are what every lab needs:
# without them setup fails. The others (free memory, disk, a port another program holds) are
# shown and setup goes on: `make test` runs in a lab of its own, at its own ports.
if report=$(.venv/bin/labkit doctor 2>&1); then
  say "ready (labkit doctor: all good)"
else
  printf '%s\n' "$report" | sed 's/^/    /' >&2
  .venv/bin/python -c 'from labkit.distribution import find_java, flink_distribution; find_java(); flink_distribution()' \
      >/dev/null 2>&1 \
    || die "labkit doctor: no lab can start on this machine until the Java or Flink problem above is fixed (its 'fix:' line says how); then run this again."
  say "ready, but labkit doctor found the problems above: each 'fix:' line says what to do ('.venv/bin/labkit doctor' checks again)"
fi
