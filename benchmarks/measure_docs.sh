#!/usr/bin/env bash
# Measure every figure docs/performance.md gives, on this machine, one benchmark at a time
# (nothing else running): each writes its JSON, with the date, CPU, flags, commit and command,
# to benchmarks/results/. Needs Debian's openclipart-png and dataset-fashion-mnist.
#   benchmarks/measure_docs.sh [STEP ...]     (default: every step, in this order)
set -uo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(throughput heap query conditions words duplicates watch ui \
    server examples learn quality index scale video video_memory)
for step in "${steps[@]}"; do
    echo "== $step ($(date +%H:%M:%S))"
    case $step in
        throughput) $py -m benchmarks.index_throughput --model vit_base_patch16_224
                    $py -m benchmarks.index_throughput --model efficientnet_lite0 ;;
        heap) $py -m benchmarks.heap ;;
        query) $py -m benchmarks.query_latency ;;
        conditions) $py -m benchmarks.conditions ;;
        words) $py -m benchmarks.words ;;
        duplicates) $py -m benchmarks.duplicates ;;
        watch) $py -m benchmarks.watch_latency ;;
        ui) QT_QPA_PLATFORM=offscreen $py -m benchmarks.ui_responsiveness ;;
        server) $py -m benchmarks.server --model vit_base_patch16_224
                $py -m benchmarks.server --model efficientnet_lite0 ;;
        examples) $py -m benchmarks.examples --set fashion ;;
        learn) $py -m benchmarks.learn --set fashion
               $py -m benchmarks.learn --set clipart ;;
        quality) $py -m benchmarks.quality ;;
        index) $py -m benchmarks.index_search --sizes 100000 --kinds real,gaussian ;;
        scale) $py -m benchmarks.scale_out --parts ingest ;;
        video) $py -m benchmarks.video ;;
        video_memory) $py -m benchmarks.video_memory ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
echo "== done ($(date +%H:%M:%S))"
