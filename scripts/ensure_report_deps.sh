#!/usr/bin/env bash
# System packages the reports need: a CJK TrueType font for Chinese in charts and PDFs
# (fonts-wqy-zenhei) and poppler-utils (pdftoppm, to look at a rendered page).
# Idempotent; .ci/run calls it before the tests. Python deps come from pyproject.toml.
set -euo pipefail
need=()
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
echo "report deps ok: ${need[*]:-already installed}"
