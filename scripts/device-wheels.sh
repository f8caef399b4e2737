#!/usr/bin/env bash
# Download the wheels the GPU machine lacks (deploy/device/wheels.txt, pinned to this project's .venv) into
# .device/wheels/cp312 (git-ignored; `run` carries it: carry [".device"]). It reaches no registry, so
# scripts/device-check.sh installs them there with `pip install --no-index --find-links`.
#
#   bash scripts/device-wheels.sh             # cp312 manylinux x86_64: the device's Python 3.12
#   bash scripts/device-wheels.sh --rehearse  # also cp311 builds of the same versions (.device/wheels/cp311),
#                                             # for the CPU rehearsal here (scripts/device-check.sh, DEVICE=cpu)
#
# Also copies Debian's wrk and its LuaJIT library into .device/bin when wrk is installed here (it is dynamically
# linked; the device image is expected to have libssl3 and glibc >= this machine's); device-check.sh falls back
# to the httpx generator when that wrk does not run there.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PIP:-.venv/bin/pip}"
LIST=deploy/device/wheels.txt
mapfile -t PINS < <(grep -v '^#' "$LIST" | grep .)

download() {  # download PYTHON_VERSION DIR
    local version="$1" dir="$2"
    rm -rf "$dir" && mkdir -p "$dir"
    "$PIP" download --quiet --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 --platform linux_x86_64 -d "$dir" "${PINS[@]}"
    local count
    count=$(find "$dir" -name '*.whl' | wc -l)
    if [ "$count" -ne "${#PINS[@]}" ]; then
        echo "expected ${#PINS[@]} wheels in $dir, got $count" >&2
        exit 1
    fi
    echo "$dir: $count wheels, $(du -sh "$dir" | cut -f1)"
}

download 3.12 .device/wheels/cp312
if [ "${1:-}" = "--rehearse" ]; then
    download 3.11 .device/wheels/cp311
fi

if command -v wrk >/dev/null; then
    mkdir -p .device/bin
    cp "$(command -v wrk)" .device/bin/wrk
    luajit=$(ldd "$(command -v wrk)" | awk '/libluajit/ {print $3}')
    [ -n "$luajit" ] && cp -L "$luajit" .device/bin/
    echo ".device/bin: $(ls .device/bin | tr '\n' ' ')($(du -sh .device/bin | cut -f1))"
fi
