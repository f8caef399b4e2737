#!/usr/bin/env bash
# Debian's `prometheus` package: promtool and the server, which tests/deploy run.
set -u
bash "$(dirname "$0")/ensure-tool.sh" promtool "tests/deploy's Prometheus checks" prometheus
# The package's service would start a server on :9090; containers without systemd never start it, but a
# machine with systemd would: stop it so tests only run the Prometheus they start themselves.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus prometheus-node-exporter 2>/dev/null || true
fi
exit 0
