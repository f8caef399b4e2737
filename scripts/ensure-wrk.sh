#!/usr/bin/env bash
# Installs Debian's `wrk` package (the C load generator `ebmm bench load` drives; tests/benchmarks use it) when
# wrk is missing and this is root on a machine with apt. Never fails the build: without it the wrk tests skip
# and say why, and `ebmm bench load` falls back to its httpx generator.
set -u
if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-wrk: wrk missing and cannot apt-get install wrk (not root or no apt)" >&2
    exit 0
fi
echo "ensure-wrk: installing the Debian package wrk for ebmm bench load and tests/benchmarks" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }; then
    echo "ensure-wrk: apt-get install wrk failed; the wrk tests will skip" >&2
fi
exit 0
