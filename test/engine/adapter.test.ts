/**
 * Which GPU the WebGPU provider runs on, as the system describes it (adapter.ts), on trees of
 * the files the drivers publish: NVIDIA's kernel module, the DRM devices, Vulkan's driver files.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeAdapter, findAdapter } from '../../src/engine/onnx/adapter.js';
import { tempDir } from '../helpers.js';

const dirs: string[] = [];
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true })));

/** A system root holding these files (and links: a value starting with '->'). */
function system(files: Record<string, string>): string {
  const root = tempDir();
  dirs.push(root);
  for (const [file, text] of Object.entries(files)) {
    const at = path.join(root, file);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    if (text.startsWith('->')) fs.symlinkSync(text.slice(2), at);
    else fs.writeFileSync(at, text);
  }
  return root;
}

const icd = (library: string) => JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: library } });
const LAVAPIPE = { '/usr/share/vulkan/icd.d/lvp_icd.json': icd('libvulkan_lvp.so') };
const H200 = {
  '/proc/driver/nvidia/version':
    'NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024',
  '/proc/driver/nvidia/gpus/0000:19:00.0/information': 'Model: \t\t NVIDIA H200\nIRQ:   \t\t 16\n',
  '/usr/share/vulkan/icd.d/nvidia_icd.json': icd('libGLX_nvidia.so.0'),
};
const AMD = {
  '/sys/class/drm/card1/device/vendor': '0x1002',
  '/sys/class/drm/card1/device/device': '0x744c',
  '/sys/class/drm/card1/device/mem_info_vram_total': String(24 * 2 ** 30),
  '/sys/class/drm/card1/device/product_name': 'Radeon RX 7900 XTX',
  '/sys/class/drm/card1/device/driver': '->../../../bus/pci/drivers/amdgpu',
  '/usr/share/vulkan/icd.d/radeon_icd.x86_64.json': icd('/usr/lib/x86_64-linux-gnu/libvulkan_radeon.so'),
};
const INTEL = {
  '/sys/class/drm/card0/device/vendor': '0x8086',
  '/sys/class/drm/card0/device/device': '0x46a6',
  '/sys/class/drm/card0/device/driver': '->../../../bus/pci/drivers/i915',
  '/usr/share/vulkan/icd.d/intel_icd.x86_64.json': icd('/usr/lib/x86_64-linux-gnu/libvulkan_intel.so'),
};

describe('the GPU adapter, as the system describes it', () => {
  it('names lavapipe, software, where it is the only Vulkan driver (this machine and CI)', () => {
    const adapter = findAdapter({}, system(LAVAPIPE));
    assert.deepEqual(adapter, {
      name: 'lavapipe',
      driver: 'Mesa, software',
      software: true,
      discrete: false,
      memory: null,
    });
    assert.equal(describeAdapter(adapter!), 'lavapipe, driver Mesa, software');
  });

  it('passes over a GPU whose Vulkan driver the loader has no file for (Dawn would run on the software one)', () => {
    const { '/usr/share/vulkan/icd.d/nvidia_icd.json': _, ...noIcd } = H200;
    assert.equal(findAdapter({}, system({ ...LAVAPIPE, ...noIcd }))?.name, 'lavapipe');
    assert.equal(findAdapter({}, system(noIcd)), null);
  });

  it("names an NVIDIA GPU and its driver from NVIDIA's kernel module, before a software driver", () => {
    const adapter = findAdapter({}, system({ ...LAVAPIPE, ...H200 }));
    assert.equal(adapter?.name, 'NVIDIA H200');
    assert.equal(adapter?.driver, 'NVIDIA 550.54.15');
    assert.equal(adapter?.discrete, true);
    assert.equal(adapter?.software, false);
  });

  it("names an AMD GPU with its memory, and prefers it to Intel's integrated one", () => {
    const adapter = findAdapter({}, system({ ...LAVAPIPE, ...INTEL, ...AMD }));
    assert.deepEqual(adapter, {
      name: 'Radeon RX 7900 XTX',
      driver: 'amdgpu',
      software: false,
      discrete: true,
      memory: 24 * 2 ** 30,
    });
    assert.equal(describeAdapter(adapter!), 'Radeon RX 7900 XTX, driver amdgpu, 24 GiB');
    const intel = findAdapter({}, system({ ...LAVAPIPE, ...INTEL }));
    assert.deepEqual(intel, {
      name: 'Intel GPU 0x46a6',
      driver: 'i915',
      software: false,
      discrete: false,
      memory: null,
    });
  });

  it("follows the Vulkan driver files named in the environment, as Vulkan's loader does", () => {
    const root = system({ ...LAVAPIPE, ...H200 });
    const env = { VK_ICD_FILENAMES: '/usr/share/vulkan/icd.d/lvp_icd.json' };
    assert.equal(findAdapter(env, root)?.name, 'lavapipe');
    assert.equal(
      findAdapter({ VK_DRIVER_FILES: '/usr/share/vulkan/icd.d/nvidia_icd.json' }, root)?.name,
      'NVIDIA H200',
    );
    assert.equal(findAdapter({}, system({})), null, 'no driver, no adapter');
  });
});
