#!/usr/bin/env bash
# Installs the Debian packages the tests run for real: prometheus (with promtool) and
# prometheus-node-exporter. Skips what is already there.
set -euo pipefail
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing Debian packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the packaged services; the tests start their own on free ports instead.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  for svc in prometheus prometheus-node-exporter; do
    if systemctl is-active --quiet "$svc"; then $sudo systemctl stop "$svc"; fi
  done
fi
