#!/usr/bin/env bash
# One prepared run for a lent GPU machine (issue 8): the CUDA tests, then `ebmm bench engine` eager and graph
# on cuda. Results land in $OUT (the device tool brings them back) to be copied to benchmarks/results/.
# The device image has torch but not the service's packages; only model/ and its tests run there.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD"
OUT="${OUT:-/tmp/device-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -m pip install -q typer rich orjson tqdm 2>&1 | tail -1
python3 -m pytest -q -p no:cacheprovider tests/model/test_cuda.py tests/model/test_buckets.py 2>&1 | tee "$OUT/cuda-tests.log"
for mode in eager graph; do
    python3 -m ebmm.cli bench engine --device cuda --mode "$mode" --batches 1,8,32,128,512,8192 --seconds 1 \
        --json "$OUT/engine-cuda-$mode.json" 2>&1 | tee -a "$OUT/bench.log"
done
