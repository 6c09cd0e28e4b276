#!/usr/bin/env bash
# Packs what bench/gpu/device.sh runs into .gpu-kit/kit.tar.xz, to carry to a GPU machine where
# nothing can be downloaded and Node.js is not installed: Node's binary, onnxruntime-node's Linux
# x64 library and its JavaScript, the graph builders from dist/ (npm run build first), the Vulkan
# loader, and the scripts. Run from the repository root; prints the kit's size (the carry holds 64 MiB).
set -euo pipefail
kit=.gpu-kit
rm -rf "$kit" && mkdir -p "$kit/root/node_modules/protobufjs" "$kit/root/lib" "$kit/root/bench/gpu"
root=$kit/root
cp "$(readlink -f "$(command -v node)")" "$root/node"
cp -r node_modules/onnxruntime-common node_modules/onnx-proto node_modules/long node_modules/@protobufjs "$root/node_modules/"
cp -r node_modules/protobufjs/{package.json,minimal.js,index.js,src} "$root/node_modules/protobufjs/"
ort=node_modules/onnxruntime-node
mkdir -p "$root/$ort/bin/napi-v6/linux"
cp -r "$ort/package.json" "$ort/dist" "$root/$ort/"
cp -r "$ort/bin/napi-v6/linux/x64" "$root/$ort/bin/napi-v6/linux/"
mkdir -p "$root/dist/src/engine" && cp -r dist/src/engine/graph dist/src/engine/objective dist/src/engine/vgg19.js "$root/dist/src/engine/"
cp "$(readlink -f /usr/lib/x86_64-linux-gnu/libvulkan.so.1)" "$root/lib/libvulkan.so.1"
cp bench/gpu/evaluation.mjs bench/gpu/peer_torch.py bench/gpu/device.sh "$root/bench/gpu/"
printf '{"type":"module"}\n' > "$root/package.json"
tar -C "$root" -cJf "$kit/kit.tar.xz" .
rm -rf "$root"
du -h "$kit/kit.tar.xz"
