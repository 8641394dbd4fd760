#!/usr/bin/env bash
# `make lab` after setup: checks JupyterLab's port, starts (or reuses) the lab's cluster, then
# JupyterLab on the chapters, quietly, under one banner with the link that opens the tour.
#   - the lab is the one LABKIT_LAB names (default "default"), as for every labkit command;
#   - JupyterLab listens on 8888 + LABKIT_PORT_OFFSET, as the cluster's ports follow the offset,
#     so two labs from one clone do not collide;
#   - the token is new on every run and reaches Jupyter in its environment (JUPYTER_TOKEN), which
#     other users of the machine cannot read, unlike its command line.
# Jupyter's own options: scripts/jupyter_lab_config.py.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf '\033[31m[lab] %s\033[0m\n' "$*" >&2; exit 1; }

# The lab and its offset as labkit reads them (LABKIT_LAB, LABKIT_PORT_OFFSET), and a fresh token.
read -r lab offset token < <(.venv/bin/python -c '
import secrets
import sys
from labkit.errors import LabError
from labkit.settings import LabSettings
try:
    settings = LabSettings.from_env()
except LabError as exc:
    sys.exit(f"error: {exc}")
print(settings.name, settings.port_offset, secrets.token_hex(24))') || true
[ -n "${token:-}" ] || die "no lab started: its settings are not usable (above)"
port=$((8888 + offset))
if (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "port $port (JupyterLab for this lab: 8888 + LABKIT_PORT_OFFSET) is taken, perhaps by another lab's JupyterLab.
    Stop that program, or give this lab another offset: LABKIT_LAB=$lab LABKIT_PORT_OFFSET=$((offset + 100)) make lab"
fi

.venv/bin/labkit up

tour=00_lab_tour.ipynb
printf '\n\033[1mJupyterLab for lab %s: open the tour at\033[0m\n    http://127.0.0.1:%s/lab/tree/%s?token=%s\n' \
  "'$lab'" "$port" "$tour" "$token"
down="make down"
[ "$lab" = default ] || down="LABKIT_LAB=$lab make down"
printf 'Ctrl-C stops JupyterLab; the cluster keeps running until `%s`.\n\n' "$down"

allow_root=()
[ "$(id -u)" = 0 ] && allow_root=(--allow-root)
# The tour as an absolute path: JupyterLab joins a relative one to the notebook dir.
JUPYTER_TOKEN=$token exec .venv/bin/jupyter lab --config="$PWD/scripts/jupyter_lab_config.py" \
  --port="$port" --notebook-dir="$PWD/notebooks" ${allow_root[@]+"${allow_root[@]}"} "$PWD/notebooks/$tour"
