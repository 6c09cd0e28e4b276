#!/usr/bin/env bash
# Packs what bench/gpu/device.sh runs into .gpu-kit/kit.tar.xz, to carry to a GPU machine where
# nothing can be downloaded and Node.js is not installed: Node's binary, the Vulkan loader, two
# of the shared images, and every file of this checkout that the command and the scripts open
# (found by tracing small runs of them here on lavapipe with strace: dist/, bin/nst and the parts
# of node_modules they load, onnxruntime-node's Linux library among them). Run from the repository
# root after `npm run build`, with NST_WEIGHTS set; prints the kit's size (the carry holds 64 MiB).
set -euo pipefail
kit=.gpu-kit
rm -rf "$kit" && mkdir -p "$kit/root/lib" "$kit/root/images"
root=$kit/root
images=${NST_IMAGES:-../shared/images}
trace=$(mktemp -d)
export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json
traced() { strace -f -qq -e trace=openat -e status=successful -o "$trace/$1.txt" "${@:2}" >/dev/null 2>&1; }
traced weights node bench/gpu/random-weights.mjs "$trace/random.h5"
for optimizer in lbfgs adam; do
  traced "nst-$optimizer" env NST_WEIGHTS="$trace/random.h5" node bin/nst stylize "$images/tubingen.jpg" \
    "$images/starry_night.jpg" -o "$trace/$optimizer.png" --size 32 --scales 1 --iterations 2 \
    --optimizer "$optimizer" --device webgpu --json
done
traced lbfgs node dist/bench/lbfgs-step.js --height 8 --width 8 --pairs 2 --measured 1 --device webgpu
traced evaluation node bench/gpu/evaluation.mjs --provider webgpu --sizes 32 --runs 1
here=$(pwd)
cat "$trace"/*.txt | grep -o "\"$here/[^\"]*\"" | tr -d '"' | sed "s|^$here/||" | sort -u |
  while read -r file; do [ -f "$file" ] && echo "$file"; done >"$trace/files.txt"
tar -cf - -T "$trace/files.txt" | tar -C "$root" -xf -
cp "$(readlink -f "$(command -v node)")" "$root/node"
cp "$(readlink -f /usr/lib/x86_64-linux-gnu/libvulkan.so.1)" "$root/lib/libvulkan.so.1"
cp "$images/tubingen.jpg" "$images/starry_night.jpg" "$root/images/"
mkdir -p "$root/bench/gpu" && cp bench/gpu/*.mjs bench/gpu/peer_torch.py bench/gpu/device.sh "$root/bench/gpu/"
echo "$(wc -l <"$trace/files.txt") files of the checkout"
rm -rf "$trace"
tar -C "$root" -cJf "$kit/kit.tar.xz" .
rm -rf "$root"
du -h "$kit/kit.tar.xz"
