#!/usr/bin/env bash
# Run ON the GPU machine (device tool, carry [".whl"]): the standard profile in two parts so each
# call stays under 10 minutes, JSON and logs under $OUT.
#   part 1: every optimization except compile, batch 1/8/32/128, plus the CUDA-event cross-check
#   part 2: torch.compile cells (one compile per model and batch size)
set -uo pipefail
part=${1:-1}
out=${OUT:-out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
export TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-cache
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || true
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv | tee "$out/nvidia-smi-$part.csv"
common=(-p no:cacheprovider -q --vb-profile standard --benchmark-max-time 0.5)
if [ "$part" = 1 ]; then
  python3 -m pytest bench "${common[@]}" -k "not compile" --benchmark-json "$out/standard-part1.json" 2>&1 | tee "$out/part1.log" | tail -40
  python3 -m vbench.tools.crosscheck "$out/standard-part1.json" resnet50-eager-bs32-224px | tee "$out/crosscheck.json"
else
  python3 -m pytest bench "${common[@]}" -m compile --benchmark-json "$out/standard-part2.json" 2>&1 | tee "$out/part2.log" | tail -40
fi
