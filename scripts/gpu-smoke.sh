#!/usr/bin/env bash
# Device check for a GPU machine that has PyTorch but no .NET: runs a `diffuse` published self-contained with
# -p:TorchBackend=external (see README, GPU) against PyTorch's own libtorch, on CPU and on CUDA in three precisions,
# writing the PNGs and timings to $OUT. Usage: OUT=dir bash scripts/gpu-smoke.sh path/to/diffuse model-dir
set -uo pipefail
bin=${1:?path to the published diffuse}
model=${2:?diffusers model folder}
out=${OUT:?set OUT to a folder for the results}
torchlib=$(python3 -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")
export LD_LIBRARY_PATH="$torchlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
chmod +x "$bin"
prompt="A painting of a squirrel eating a burger"
run() {
  local name=$1; shift
  local start=$(date +%s%N)
  "$bin" generate --model "$model" --prompt "$prompt" --seed 0 "$@" --output "$out/$name.png" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc ms=$(( ($(date +%s%N) - start) / 1000000 ))" | tee -a "$out/summary.txt"
  grep -v NNPACK "$out/$name.log" | tail -2
  rm -f "$out/$name.log"
}
run cpu --steps 10 --width 64 --height 64 --device cpu
run cuda-fp32 --steps 10 --width 64 --height 64 --device cuda
run cuda-fp16 --steps 10 --width 64 --height 64 --device cuda --dtype float16
run cuda-bf16 --steps 10 --width 64 --height 64 --device cuda --dtype bfloat16
run cuda-512 --steps 20 --width 512 --height 512 --device cuda --dtype float16
