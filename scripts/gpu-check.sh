#!/usr/bin/env bash
# Builds the GPU check as one self-contained file (no .NET needed where it runs) into the
# ignored folder .pub/gpu-check, and prints the command that runs it on a machine with an
# NVIDIA GPU, its driver and PyTorch. The program runs every registered op on cuda:0 against
# the CPU, then benchmarks against PyTorch on the same GPU, and writes gpu-results.md.
#   scripts/gpu-check.sh            publish, print the command
#   scripts/gpu-check.sh --sim      also try it here on a simulated device (small sizes, no PyTorch)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.pub/gpu-check
rm -rf "$out"
dotnet publish tests/GpuCheck/GpuCheck.fsproj -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true \
  -p:IncludeNativeLibrariesForSelfExtract=true -p:DebugType=none -o "$out" -v quiet -nologo
size=$(du -sm "$out" | cut -f1)
echo "published $out/GpuCheck (${size} MiB)"
if [[ "${1:-}" == "--sim" ]]; then
  "$out/GpuCheck" --device sim:0 --quick --no-torch --out "$out/sim"
fi
cat <<MSG

On the GPU machine, from a copy of this folder (or with .pub/gpu-check carried there):
  .pub/gpu-check/GpuCheck --device cuda:0 --out bench
It takes under 5 minutes, writes bench/gpu-results.md (date, GPU name, op-suite counts,
ratios against PyTorch, allocator counters) and exits non-zero if an op disagrees with the
CPU or the allocator's counters grow. CUDA_VISIBLE_DEVICES picks the GPU, as for PyTorch.
MSG
