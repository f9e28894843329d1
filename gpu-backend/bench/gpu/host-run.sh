#!/bin/sh
# Issue 6's GPU benchmark on an NVIDIA host, in phases that each fit one 10-minute session there.
# Run from the repository root of a checkout that carries the packed bundle (npm run pack:backend,
# split as .devpack/node.xz + .devpack/rest.tar.xz) and the Vulkan loader packages (.gl/*.deb, see
# gpu-backend/README.md). Results go to $OUT.
#
#   sh gpu-backend/bench/gpu/host-run.sh prepare     # bundle, A2.7B-shaped checkpoint, HF baseline, int4 convert
#                                                    # (PICKBAN_PREPARE_INT4=0: without the int4 convert)
#   sh gpu-backend/bench/gpu/host-run.sh int4        # bench:gpu and step-probe on the int4 model
#   sh gpu-backend/bench/gpu/host-run.sh fp16        # fp16 convert (int4 removed for disk) + bench:gpu,
#                                                    # then greedy CPU-vs-WebGPU parity on the trained default model
#   sh gpu-backend/bench/gpu/host-run.sh parity      # that parity check alone (needs only the bundle)
set -eu
phase=$1
OUT=${OUT:-/tmp/pickban-out}
W=${PICKBAN_WORK:-/tmp/pickban-gpu}
B=$W/pickban-backend
N=$B/bin/node
mkdir -p "$OUT" "$W"

# The Vulkan loader (Debian libvulkan1 and friends) and the host's NVIDIA ICD; WebGPU (Dawn) needs both.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

case $phase in
prepare)
  tar -C "$W" -xJf .devpack/rest.tar.xz
  mkdir -p "$B/bin" && xz -dc .devpack/node.xz > "$N" && chmod +x "$N"
  [ -f .devpack/default-model.tar.xz ] && tar -C "$W" -xJf .devpack/default-model.tar.xz
  /usr/bin/time -f '%e s' "$N" "$B/generate.mjs" --out "$W/ckpt" --preset a2.7b 2>&1 | tail -2
  python3 gpu-backend/bench/gpu/hf_generate.py "$W/ckpt" "$OUT/hf.json" --batches 1,8,32 --new-tokens 32 --prefill 512,2048 --runs 2 --max-seconds 150 2>&1 | grep -v Warning | tail -8
  # PICKBAN_PREPARE_INT4=0 skips the int4 conversion (a session that only runs the fp16 phase).
  [ "${PICKBAN_PREPARE_INT4:-1}" = 0 ] || /usr/bin/time -f '%e s' "$N" "$B/convert.mjs" "$W/ckpt" "$W/int4" --dtype int4 --ep webgpu 2>&1 | tail -2
  ;;
int4)
  "$N" "$B/bench-gpu.mjs" --model "$W/int4" --ep webgpu --streams 1,8,32,128,256 --decode-tokens 32 --prefill 512,2048 --runs 2 --strategies all --out "$OUT/int4.json" --max-seconds 330 2>&1 | grep -v onnxruntime | tail -32
  "$N" "$B/step-probe.mjs" "$W/int4" --batches 1,8,32,64,128,256 --runs 8 2>&1 | grep medianMs | tee "$OUT/int4-step-probe.jsonl"
  ;;
fp16)
  rm -rf "$W/int4"
  /usr/bin/time -f '%e s' "$N" "$B/convert.mjs" "$W/ckpt" "$W/fp16" --dtype fp16 --ep webgpu 2>&1 | tail -2
  "$N" "$B/bench-gpu.mjs" --model "$W/fp16" --ep webgpu --streams 1,32,128 --decode-tokens 16 --prefill 2048 --runs 2 --runs-large 1 --strategies none --out "$OUT/fp16.json" --max-seconds 150 2>&1 | grep -v onnxruntime | tail -16
  sh "$0" parity
  ;;
parity)
  [ -x "$N" ] || { tar -C "$W" -xJf .devpack/rest.tar.xz; mkdir -p "$B/bin" && xz -dc .devpack/node.xz > "$N" && chmod +x "$N"; }
  [ -d "$W/default-model" ] || tar -C "$W" -xJf .devpack/default-model.tar.xz
  # Greedy text, CPU against WebGPU, on the trained default model (peaked, so noise cannot flip ties).
  for v in "cpu --dtype int4" "webgpu --dtype int4 --ep webgpu" "cpu32 --dtype fp32" "webgpu32 --dtype fp32 --ep webgpu"; do
    set -- $v; d=$1; shift; "$N" "$B/convert.mjs" "$W/default-model" "$W/dm-$d" "$@" | tail -1
  done
  "$N" "$B/smoke.mjs" "cpu:$W/dm-cpu" "webgpu:$W/dm-webgpu" > "$OUT/parity-int4.txt" 2>&1; tail -1 "$OUT/parity-int4.txt"
  "$N" "$B/smoke.mjs" "cpu:$W/dm-cpu32" "webgpu:$W/dm-webgpu32" > "$OUT/parity-fp32.txt" 2>&1; tail -1 "$OUT/parity-fp32.txt"
  ;;
*)
  echo "unknown phase $phase" >&2
  exit 2
  ;;
esac
