#!/usr/bin/env bash
# Installs Debian's `prometheus` package (promtool + the server, used by tests/deploy) when promtool is missing
# and this is root on a machine with apt. Never fails the build: without it those tests skip and say why.
set -u
if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-prometheus: promtool missing and cannot apt-get install prometheus (not root or no apt)" >&2
    exit 0
fi
echo "ensure-prometheus: installing the Debian package prometheus (promtool) for tests/deploy" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }; then
    echo "ensure-prometheus: apt-get install prometheus failed; tests/deploy promtool checks will skip" >&2
fi
# The package's service would start a server on :9090; containers without systemd never start it, but a
# machine with systemd would: stop it so tests only run the Prometheus they start themselves.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus prometheus-node-exporter 2>/dev/null || true
fi
exit 0
