#!/usr/bin/env bash
# The CUDA checks, in one run of under 10 minutes on a machine with an NVIDIA GPU:
#   1. indexing throughput with ViT-B/16: fp32 against bf16 (precision auto), batch 16/64/128;
#   2. drop-to-grid query latency at 100,000 images on the GPU;
#   3. the Ray Data job on CUDA: the model in an actor pool (one GPU per actor) filling a
#      Milvus Lite catalogue, images/s beside plain ``index`` of the same photos;
#   4. the tests that touch devices and precisions.
# Results land in benchmarks/results/ (and in $OUT when set, for a machine that sends them
# back). Usage: bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [ ! -x "$PY" ]; then
    python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'
    PY=.venv/bin/python
fi
LOG=benchmarks/results/gpu_check.log
mkdir -p benchmarks/results
exec > >(tee "$LOG") 2>&1
started=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - started )) s)"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "nvidia-smi not found"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', \
'bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported())"

step "throughput, ViT-B/16, batch 16 / 64 / 128 (fp32 model-only vs auto end to end)"
for batch in 16 64 128; do
    timeout 150 "$PY" -m benchmarks.index_throughput --model vit_base_patch16_224 \
        --device cuda --batch-size "$batch" --count 300 | tail -n 30
    cp benchmarks/results/index_throughput-vit_base_patch16_224-auto.json \
        "benchmarks/results/gpu-throughput-batch$batch.json" 2>/dev/null
done

step "query latency at 100,000 images"
timeout 200 "$PY" -m benchmarks.query_latency --device cuda --size 100000 --queries 20 | tail -n 30

step "Ray actor pool on CUDA: index --store milvus-lite --ray, beside index (ViT-B/16, bf16)"
RAYDIR=$(mktemp -d)
WEIGHTS=$("$PY" -c "from benchmarks.common import random_vit_weights as w; print(w())")
PHOTOS=$("$PY" -c "from benchmarks import photos; from benchmarks.common import DATA; \
photos.build(DATA / 'photos-300', 300); print(DATA / 'photos-300')")
for way in library ray; do
    t0=$(date +%s.%N)
    if [ "$way" = library ]; then
        timeout 200 "$PY" -m image_finder.cli --data-dir "$RAYDIR/lib" index "$PHOTOS" \
            --model vit_base_patch16_224 --weights "$WEIGHTS" --device cuda --precision bf16 \
            | tail -n 2
    else
        timeout 300 "$PY" -m image_finder.cli index --store "milvus-lite:$RAYDIR/c.db" --ray \
            --model vit_base_patch16_224 --weights "$WEIGHTS" --device cuda --precision bf16 \
            --json "$PHOTOS" | tail -n 1
    fi
    t1=$(date +%s.%N)
    "$PY" -c "import sys; n=len(list(__import__('pathlib').Path('$PHOTOS').iterdir())); \
s=$t1-$t0; print(f'$way: {n} images in {s:.1f} s, {n/s:.1f} images/s (start included)')"
done | tee benchmarks/results/gpu-ray.txt
rm -rf "$RAYDIR"

step "tests that touch devices and precisions"
QT_QPA_PLATFORM=offscreen timeout 120 "$PY" -m pytest -q -p no:cacheprovider \
    tests/core/embedding/test_extractor.py tests/core/embedding/test_precision.py

step "done"
if [ -n "${OUT:-}" ]; then cp benchmarks/results/*.json "$LOG" "$OUT"/ 2>/dev/null; fi
