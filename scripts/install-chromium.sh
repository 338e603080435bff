#!/usr/bin/env bash
# Install Debian's Chromium for the browser-demo test (tests/examples/test_browser.py),
# unattended, only when /usr/bin/chromium is missing. Playwright drives this binary; its
# own browser download (`playwright install`) is never used.
#
# Needs apt-get and root (or passwordless sudo). Without them it says so and exits 0: the
# browser test then skips with the same hint. CI runs as root on Debian, so it installs.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: apt-get not found, so $CHROMIUM cannot be installed: the browser test will skip" >&2
    exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "note: installing Chromium needs root: run 'sudo apt-get install chromium'; the browser test will skip" >&2
        exit 0
    fi
fi
echo "installing Chromium (apt-get install chromium) for the browser-demo test…"
"${SUDO[@]}" apt-get update -qq
# fonts-liberation (a Recommends) so pages and screenshots have text; the other
# Recommends (printing, desktop integration) are not needed headless
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
"$CHROMIUM" --version
