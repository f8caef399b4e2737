#!/usr/bin/env bash
# scripts/ensure-tool.sh TOOL PURPOSE PACKAGE [PACKAGE ...]
# When TOOL (a command name, or an executable's path) is missing and this is root on a machine with apt, installs
# the first of the Debian PACKAGEs that installs. Never fails the build: without TOOL the tests that need it
# (PURPOSE) skip and say why. The ensure-*.sh scripts `make test` runs are this, named.
set -u
tool=$1 purpose=$2
shift 2
if command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tool: $tool missing and cannot apt-get install $* (not root or no apt); $purpose will skip" >&2
    exit 0
fi
echo "ensure-tool: installing $tool ($*) for $purpose" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
for package in "$@"; do
    if apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; then
        exit 0
    fi
done
echo "ensure-tool: apt-get install $* failed; $purpose will skip" >&2
exit 0
