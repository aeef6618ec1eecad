#!/usr/bin/env bash
# Device check: DiffusersSharp on an accelerator machine that has PyTorch (python3 with torch) but no .NET.
#
#   tools/device-check.sh prepare        # here, with .NET: publish + slim fixtures into out/device-check/
#   tools/device-check.sh run [--device cuda|cuda:N|cpu]   # there (or here with --device cpu): writes to $OUT
#
# prepare publishes ONE self-contained single-file program, out/device-check/devicecheck
# (tools/DiffusersSharp.DeviceCheck: parity, precision and the benchmark in one executable), built with
# -p:TorchBackend=external so that it uses the libtorch on LD_LIBRARY_PATH (PyTorch's torch/lib there), and copies
# only the fixture files the check reads (`devicecheck files`) into out/device-check/fixtures.
# run does, on the device, all within a few minutes:
#   (a) parity: golden fixture cases (UNet, VAE decoder, text encoder, scheduler loops, every sd_txt2img pipeline
#       case) in float32 with TF32 off, at the fixtures README's tolerances;
#   (b) precision: tiny-sd pictures in float32/float16/bfloat16 on the device against the CPU's float32, as PSNR;
#   (c) bench: SD 1.5 architecture (random float16 weights) UNet step 512² and 50-step Euler generation 512² in
#       float16 (also under model CPU offload), steps/s and peak device memory (on cpu: libtorch's op throughput only);
#   (d) diffusers: the same rows measured by diffusers itself (bench/diffusers_baseline.py) in the same run, when
#       python3 there can import diffusers, or prepare packed its source (DIFFUSERS_SRC=folder holding the
#       `diffusers` package, e.g. a checkout's src/) into out/device-check/diffusers.tar.xz;
# and writes summary.txt (plus bench.json, diffusers.json and the logs) to $OUT (default out/device-check/results).
#
# The device tool copies the tracked files plus up to 8 carried paths, 64 MiB in all. The tracked tests/fixtures
# (~60 MB), models/ and docs/ (8.7 MB) do not fit beside the program, so hide them and carry out/device-check instead:
#   DIFFUSERS_SRC=path/to/diffusers/src tools/device-check.sh prepare
#   git rm -r -q --cached tests/fixtures models docs && printf 'tests/fixtures/\nmodels/\ndocs/\n' >> "$(git rev-parse --git-path info/exclude)"
#   run(command: "bash tools/device-check.sh run --device cuda", carry: ["out/device-check"], timeout_s: 420)
#   git reset -q && sed -i '/^tests\/fixtures\/$/d;/^models\/$/d;/^docs\/$/d' "$(git rev-parse --git-path info/exclude)"
# Sizes measured 2026-11-27: devicecheck 40 MB, the fixtures copy 18 MB, diffusers' source packed 1.6 MB
# (out/device-check 61.4 MB), the tracked tree without the hidden folders 1.7 MB: 60.2 MiB of the 64 MiB.
# On an H200 the whole run took about 3 minutes (parity 6 s, precision 8 s, bench 34 s, diffusers 90 s).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/out/device-check"

prepare() {
  set -e
  rm -rf "$dir" && mkdir -p "$dir/fixtures"
  dotnet build "$root/tools/DiffusersSharp.DeviceCheck" -c Release -v q -nologo
  dotnet publish "$root/tools/DiffusersSharp.DeviceCheck" -c Release -r linux-x64 --self-contained \
    -p:PublishSingleFile=true -p:TorchBackend=external -p:IncludeNativeLibrariesForSelfExtract=true \
    -p:EnableCompressionInSingleFile=true -p:InvariantGlobalization=true -p:DebugType=none \
    -o "$dir/publish" -v q -nologo
  mv "$dir/publish/devicecheck" "$dir/devicecheck" && rm -rf "$dir/publish"
  # The list comes from the runner itself (the CPU build), so it always matches the cases it runs.
  (cd "$root/tests/fixtures" && dotnet "$root/tools/DiffusersSharp.DeviceCheck/bin/Release/net10.0/devicecheck.dll" files --fixtures . \
    | while read -r f; do mkdir -p "$dir/fixtures/$(dirname "$f")" && cp "$f" "$dir/fixtures/$f"; done)
  if [ -n "${DIFFUSERS_SRC:-}" ]; then
    tar -C "$DIFFUSERS_SRC" --exclude=__pycache__ -cf - diffusers | xz -9 -T0 > "$dir/diffusers.tar.xz"
    du -sh "$dir/diffusers.tar.xz"
  fi
  du -sh "$dir/devicecheck"; du -sh "$dir/fixtures"; du -sh "$dir"
}

# libtorch for the external build: $LIBTORCH_DIR, else PyTorch's torch/lib, else (here) TorchSharp-cpu's package.
libtorch_dir() {
  if [ -n "${LIBTORCH_DIR:-}" ]; then echo "$LIBTORCH_DIR"; return; fi
  python3 -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))" 2>/dev/null && return
  ls -d "$HOME"/.nuget/packages/libtorch-cpu-linux-x64/*/runtimes/linux-x64/native 2>/dev/null | tail -1
}

run() {
  local device=cuda
  [ "${1:-}" = "--device" ] && device=${2:?--device needs a value}
  local out=${OUT:-$dir/results}
  mkdir -p "$out"
  local lib; lib=$(libtorch_dir)
  [ -n "$lib" ] || { echo "error: no libtorch found (set LIBTORCH_DIR or install PyTorch)"; return 2; }
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local bin="$dir/devicecheck" fixtures="$dir/fixtures" summary="$out/summary.txt"
  [ -x "$bin" ] || chmod +x "$bin"
  : > "$summary"
  {
    echo "device check $(date -u +%FT%TZ), device $device, libtorch $lib"
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" 2>/dev/null
    command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  } | tee -a "$summary"
  local rc=0 start
  step() {
    local name=$1; shift
    start=$(date +%s)
    "$@" > "$out/$name.log" 2>&1
    local code=$?
    grep -v NNPACK "$out/$name.log" | grep -v '^\[' | tail -40 >> "$summary"
    echo "$name: exit $code, $(( $(date +%s) - start )) s" | tee -a "$summary"
    [ $code -eq 0 ] || rc=1
  }
  step parity "$bin" parity --device "$device" --fixtures "$fixtures"
  step precision "$bin" precision --device "$device" --fixtures "$fixtures"
  if [ "$device" = cpu ]; then
    step bench "$bin" bench --device cpu --quick --only ops --dtype float32 --fixtures "$fixtures" --json "$out/bench.json"
  else
    step bench "$bin" bench --device "$device" --dtype float16 --fixtures "$fixtures" --work "${TMPDIR:-/tmp}/diffusers-sharp-bench" --json "$out/bench.json"
    if [ -f "$dir/diffusers.tar.xz" ]; then
      local site="${TMPDIR:-/tmp}/diffusers-sharp-python"
      mkdir -p "$site" && tar -C "$site" -xJf "$dir/diffusers.tar.xz" && export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    if python3 -c "import diffusers, torch" 2>/dev/null; then
      step diffusers python3 "$root/bench/diffusers_baseline.py" --device "$device" --tokenizer "$fixtures/models/tiny-sd/tokenizer" --json "$out/diffusers.json"
    else
      echo "diffusers: not measured (python3 cannot import diffusers and torch)" | tee -a "$summary"
    fi
  fi
  echo "device check: $([ $rc -eq 0 ] && echo passed || echo FAILED)" | tee -a "$summary"
  return $rc
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) sed -n '2,30p' "$0"; exit 2 ;;
esac
