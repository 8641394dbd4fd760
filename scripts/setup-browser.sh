#!/usr/bin/env bash
# The browser of the real-browser test (tests/test_browser.py): Debian's Chromium and its
# ChromeDriver, driven by Selenium. No browser downloads; only `make test` needs it.
set -euo pipefail
say() { echo "[setup] $*"; }

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  say "browser for the UI test: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  say "installing chromium and chromium-driver with apt (for the real-browser test)"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  say "browser for the UI test: $(chromium --version 2>/dev/null | head -1)"
else
  echo "[setup] error: the real-browser test needs Chromium and ChromeDriver:" >&2
  echo "    Debian/Ubuntu: sudo apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
