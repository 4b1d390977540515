#!/usr/bin/env bash
# System packages the project uses: ffmpeg/ffprobe (video probing, decoding, encoding), Debian's
# chromium (the dashboard's end-to-end browser tests, driven by Playwright) and PostgreSQL (platform tests). Idempotent; needs root or sudo.
set -euo pipefail
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# PostgreSQL server binaries: the platform tests start a throw-away server to test the PostgreSQL path
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
