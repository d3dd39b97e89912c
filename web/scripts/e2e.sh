#!/bin/sh
# Dashboard end-to-end tests: a real `grvt-mm serve` (demo, loopback) driven by Debian's Chromium.
# Installs Chromium with apt-get when it is missing (browser downloads are not used), plus a small
# CJK font so the 中文 screenshots are legible. Screenshots land in artifacts/screenshots/.
set -eu
cd "$(dirname "$0")/../.."
CHROMIUM="${GRVTMM_CHROMIUM:-/usr/bin/chromium}"

apt_install() {
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}

if [ ! -x "$CHROMIUM" ]; then
  command -v apt-get >/dev/null || { echo "e2e: $CHROMIUM is missing and apt-get is not available" >&2; exit 1; }
  apt_install chromium fonts-wqy-microhei
fi
if command -v fc-list >/dev/null && ! fc-list :lang=zh | grep -q . && command -v apt-get >/dev/null; then
  apt_install fonts-wqy-microhei || echo "e2e: no CJK font; 中文 screenshots will show boxes" >&2
fi
[ -f src/grvtmm/static/index.html ] || { echo "e2e: build the dashboard first (make web-build)" >&2; exit 1; }
[ -d web/node_modules/playwright-core ] || { echo "e2e: run npm ci in web/ first" >&2; exit 1; }

exec node --test --test-concurrency=1 tests/e2e/
