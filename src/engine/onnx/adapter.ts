/**
 * The GPU that ONNX Runtime's WebGPU provider runs on, as the system describes it: onnxruntime-node
 * does not report Dawn's adapter, so its name, driver and memory are read where the drivers
 * publish them (Linux: the Vulkan driver files the loader reads, NVIDIA's /proc/driver/nvidia and
 * nvidia-smi, the DRM devices' sysfs entries). Dawn prefers a discrete GPU to an integrated one
 * and both to a software driver, and so does `findAdapter`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSystemText } from '../../io/files.js';

export interface Adapter {
  /** The GPU's name ("NVIDIA H200", "lavapipe"), or its vendor and PCI id where no name is published. */
  name: string;
  /** The driver, and its version where known ("NVIDIA 550.54.15", "amdgpu", "Mesa, software"). */
  driver: string;
  /** A CPU-side implementation (lavapipe, SwiftShader): correct but slower than the CPU provider. */
  software: boolean;
  /** Integrated GPUs share the host's memory and are not picked by `auto`. */
  discrete: boolean;
  /** The device's own memory in bytes, where the driver publishes it. */
  memory: number | null;
}

/** The system's files, read under a root ('/'; a test gives a tree of its own); '' or [] where absent. */
class System {
  constructor(private readonly root: string) {}

  read(file: string): string | null {
    return readSystemText(path.join(this.root, file));
  }

  list(dir: string): string[] {
    try {
      return fs.readdirSync(path.join(this.root, dir)).sort();
    } catch {
      return [];
    }
  }

  /** NVIDIA's memory per GPU in MiB from nvidia-smi; none for a tree other than the system's (no command runs there). */
  nvidiaMemories(): number[] {
    if (this.root !== '/') return [];
    const smi = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    return smi.status === 0 ? smi.stdout.trim().split('\n').map(Number) : [];
  }

  /** The last part of the path a link points to. */
  linkName(link: string): string {
    try {
      return path.basename(fs.readlinkSync(path.join(this.root, link)));
    } catch {
      return '';
    }
  }
}

/** Vulkan's loader: the driver files named by the environment, else the system's. */
function vulkanDrivers(sys: System, env: NodeJS.ProcessEnv): string[] {
  const named = env['VK_DRIVER_FILES'] ?? env['VK_ICD_FILENAMES'];
  if (named) return named.split(':').filter(Boolean);
  const dirs = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  return dirs.flatMap((dir) => sys.list(dir).map((file) => path.join(dir, file)));
}

/** The library a Vulkan driver file points the loader to. */
const libraryOf = (sys: System, file: string) => /"library_path"\s*:\s*"([^"]+)"/.exec(sys.read(file) ?? '')?.[1] ?? '';

/** NVIDIA's GPUs from its kernel module, with the memory nvidia-smi reports, where the loader has NVIDIA's driver. */
function nvidiaAdapters(sys: System, libraries: string): Adapter[] {
  if (!/nvidia/i.test(libraries)) return [];
  const version = /Kernel Module\s+([\d.]+)/.exec(sys.read('/proc/driver/nvidia/version') ?? '')?.[1];
  const gpus = sys.list('/proc/driver/nvidia/gpus');
  if (gpus.length === 0) return [];
  const memories = sys.nvidiaMemories();
  return gpus.map((gpu, i) => {
    const model = /^Model:\s+(.+)$/m.exec(sys.read(`/proc/driver/nvidia/gpus/${gpu}/information`) ?? '')?.[1];
    const mib = memories[i];
    return {
      name: model ?? `NVIDIA GPU ${gpu}`,
      driver: version ? `NVIDIA ${version}` : 'NVIDIA',
      software: false,
      discrete: true,
      memory: mib && mib > 0 ? mib * 2 ** 20 : null,
    };
  });
}

const VENDORS: Record<string, string> = { '0x1002': 'AMD', '0x8086': 'Intel', '0x10de': 'NVIDIA' };

/** Vulkan driver libraries by vendor, as their driver files name them. */
const VULKAN_LIBRARIES: Record<string, RegExp> = { AMD: /radeon|amdvlk/i, Intel: /intel/i };

/** AMD's and Intel's GPUs from the DRM devices (NVIDIA's come from its own module), where the loader has their vendor's driver. */
function drmAdapters(sys: System, libraries: string): Adapter[] {
  return sys
    .list('/sys/class/drm')
    .filter((card) => /^card\d+$/.test(card))
    .flatMap((card) => {
      const device = `/sys/class/drm/${card}/device`;
      const vendor = VENDORS[sys.read(`${device}/vendor`) ?? ''];
      if (!vendor || !VULKAN_LIBRARIES[vendor]?.test(libraries)) return [];
      const driver = sys.linkName(`${device}/driver`);
      const vram = Number(sys.read(`${device}/mem_info_vram_total`) ?? 0);
      const name = sys.read(`${device}/product_name`) || `${vendor} GPU ${sys.read(`${device}/device`) ?? ''}`.trim();
      // amdgpu publishes its own memory; an APU's is a small carve-out of the host's.
      const discrete = vendor === 'AMD' && vram >= 2 ** 30;
      return [{ name, driver: driver || vendor, software: false, discrete, memory: vram > 0 ? vram : null }];
    });
}

/** The software Vulkan driver, where it is the loader's only choice or the system has no GPU. */
function softwareAdapter(sys: System, drivers: readonly string[]): Adapter | null {
  const lavapipe = drivers.find((file) => /lvp/.test(libraryOf(sys, file)) || /lvp_icd/.test(file));
  if (!lavapipe) return null;
  return { name: 'lavapipe', driver: 'Mesa, software', software: true, discrete: false, memory: null };
}

const found = new Map<string, Adapter | null>();

/**
 * The adapter the WebGPU provider will most likely run on (Linux; elsewhere null: Metal and
 * Direct3D 12 pick their own), or null when none is found; read once per process and driver
 * choice, the files under `system` ('/').
 */
export function findAdapter(env: NodeJS.ProcessEnv = process.env, system = '/'): Adapter | null {
  if (process.platform !== 'linux') return null;
  const key = [system, env['VK_DRIVER_FILES'], env['VK_ICD_FILENAMES']].join('\0');
  if (!found.has(key)) {
    found.set(key, readAdapter(new System(system), env));
  }
  return found.get(key)!;
}

function readAdapter(sys: System, env: NodeJS.ProcessEnv): Adapter | null {
  const drivers = vulkanDrivers(sys, env);
  const libraries = drivers.map((file) => libraryOf(sys, file)).join(' ');
  // A GPU counts only where the loader has its vendor's Vulkan driver (a container often has the
  // GPU but not the file that names its driver: Dawn would then run on the software one).
  const hardware = [...nvidiaAdapters(sys, libraries), ...drmAdapters(sys, libraries)];
  const best = hardware.find((a) => a.discrete) ?? hardware[0];
  return best ?? softwareAdapter(sys, drivers);
}

/** "NVIDIA H200, driver NVIDIA 550.54.15, 141 GiB" */
export function describeAdapter({ name, driver, memory }: Adapter): string {
  const size = memory === null ? '' : `, ${(memory / 2 ** 30).toFixed(memory < 10 * 2 ** 30 ? 1 : 0)} GiB`;
  return `${name}, driver ${driver}${size}`;
}
