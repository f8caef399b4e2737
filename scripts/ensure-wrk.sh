#!/usr/bin/env bash
# Debian's `wrk` package: the C load generator `ebmm bench load` drives (without it the command falls back to
# its httpx generator and says why) and tests/benchmarks' wrk tests run.
set -u
bash "$(dirname "$0")/ensure-tool.sh" wrk "ebmm bench load's wrk generator and tests/benchmarks' wrk tests" wrk
