#!/bin/sh
# Issue 6's GPU benchmark on an NVIDIA host, in phases that each fit one 10-minute session there.
# Run from the repository root of a checkout that carries the packed bundle (npm run pack:backend,
# split as .devpack/node.xz + .devpack/rest.tar.xz) and the Vulkan loader packages (.gl/*.deb, see
# gpu-backend/README.md). Results go to $OUT.
#
#   sh gpu-backend/bench/gpu/host-run.sh prepare     # bundle, A2.7B-shaped checkpoint, HF baseline, int4 convert
#   sh gpu-backend/bench/gpu/host-run.sh int4        # bench:gpu on the int4 model
#   sh gpu-backend/bench/gpu/host-run.sh fp16        # fp16 convert (int4 removed for disk) + bench:gpu
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
  /usr/bin/time -f '%e s' "$N" "$B/generate.mjs" --out "$W/ckpt" --preset a2.7b 2>&1 | tail -2
  python3 gpu-backend/bench/gpu/hf_generate.py "$W/ckpt" "$OUT/hf.json" --batches 1,8,32 --new-tokens 32 --prefill 512,2048 --runs 2 --max-seconds 150 2>&1 | grep -v Warning | tail -8
  /usr/bin/time -f '%e s' "$N" "$B/convert.mjs" "$W/ckpt" "$W/int4" --dtype int4 --ep webgpu 2>&1 | tail -2
  ;;
int4)
  "$N" "$B/bench-gpu.mjs" --model "$W/int4" --ep webgpu --streams 1,8,32,128,256 --decode-tokens 32 --prefill 512,2048 --runs 2 --strategies all --out "$OUT/int4.json" --max-seconds 480 2>&1 | tail -40
  ;;
fp16)
  rm -rf "$W/int4"
  /usr/bin/time -f '%e s' "$N" "$B/convert.mjs" "$W/ckpt" "$W/fp16" --dtype fp16 --ep webgpu 2>&1 | tail -2
  "$N" "$B/bench-gpu.mjs" --model "$W/fp16" --ep webgpu --streams 1,8,32,128 --decode-tokens 32 --prefill 512,2048 --runs 2 --strategies none --out "$OUT/fp16.json" --max-seconds 300 2>&1 | tail -24
  ;;
*)
  echo "unknown phase $phase" >&2
  exit 2
  ;;
esac
