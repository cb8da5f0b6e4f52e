#!/bin/sh
# Installs Debian's chromium for the portal's browser tests when it is missing.
# The tests drive /usr/bin/chromium through Playwright; no browser is ever downloaded by
# Playwright itself.
set -eu
CHROMIUM="${BANGFU_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    "$CHROMIUM" --version 2>/dev/null || true
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk
"$CHROMIUM" --version
