#!/usr/bin/env bash
# The whole GPU check, run once on a lent GPU machine from the repository root with the kit
# carried (bench/gpu/pack.sh makes .gpu-kit/kit.tar.xz; carry ".gpu-kit"):
#   bash bench/gpu/device.sh        # results under $OUT (or ./gpu-results)
# 1. the evaluation on ONNX Runtime's WebGPU provider over the machine's Vulkan driver, direct and
#    Winograd convolutions, at 512, 1024 and 2048 px; 2. PyTorch's fp32 autograd on CUDA at the same
#    sizes (the machine's Python); 3. the default command end to end at 512 px on the GPU
#    (tubingen × starry_night, random VGG19 weights: the issue's ≤ 10 s), its events and wall time;
#    4. L-BFGS's iteration beside the evaluation with 100 pairs at 384×512 on the device;
#    5. the CPU provider with 2, 8 and 16 threads at 512 px. Each step has its own time limit, so
#    one that hangs does not take the others' time (about 7½ minutes at most in all).
set -u
here=$(pwd)
out=${OUT:-$here/gpu-results}
mkdir -p "$out"
kit=$(mktemp -d)
tar -C "$kit" -xJf .gpu-kit/kit.tar.xz
node="$kit/node"
export LD_LIBRARY_PATH="$kit/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
sizes=${GPU_SIZES:-512,1024,2048}
# NVIDIA's driver is its own Vulkan driver; a container may lack the file that names it to the loader.
if ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1 &&
  ldconfig -p | grep -q libGLX_nvidia.so.0; then
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3"}}\n' >"$kit/nvidia_icd.json"
  export VK_ICD_FILENAMES="$kit/nvidia_icd.json"
fi
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  nproc
  echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}"
} >"$out/machine.txt"
run() { # name limit command…
  local name=$1 limit=$2
  shift 2
  echo "== $name" >&2
  timeout "$limit" "$@" >>"$out/$name.jsonl" 2>>"$out/$name.log" || echo "$name: exit $?" >>"$out/failures.txt"
}
timed() { # name limit command…: the wall time as one JSON line
  local name=$1 started ended
  started=$(date +%s.%N)
  run "$@"
  ended=$(date +%s.%N)
  awk -v name="$name" -v a="$started" -v b="$ended" 'BEGIN { printf "{\"step\":\"%s\",\"wall_s\":%.2f}\n", name, b - a }' >>"$out/timings.jsonl"
}
cd "$kit"
for conv in auto direct; do
  run webgpu "$([ "$conv" = auto ] && echo 100 || echo 60)" "$node" bench/gpu/evaluation.mjs --provider webgpu --convolution "$conv" --sizes "$sizes" --runs 5
done
run pytorch 60 "${PYTHON:-python3}" bench/gpu/peer_torch.py --sizes "$sizes" --runs 5
run weights 30 "$node" bench/gpu/random-weights.mjs "$kit/vgg19-random.h5"
timed command-webgpu 90 env NST_WEIGHTS="$kit/vgg19-random.h5" "$node" bin/nst stylize images/tubingen.jpg \
  images/starry_night.jpg -o "$out/command-webgpu-${COMMAND_SIZE:-512}.png" --size "${COMMAND_SIZE:-512}" --device webgpu --json ${COMMAND_FLAGS:-}
run lbfgs-webgpu 60 "$node" dist/bench/lbfgs-step.js --height "${LBFGS_HEIGHT:-384}" --width "${LBFGS_WIDTH:-512}" \
  --pairs 100 --measured 5 --threads 16 --device webgpu
for threads in 2 8 16; do
  run cpu 25 "$node" bench/gpu/evaluation.mjs --provider cpu --threads "$threads" --convolution auto --sizes 512 --runs 3
done
cd "$here"
rm -rf "$kit"
ls -la "$out"
