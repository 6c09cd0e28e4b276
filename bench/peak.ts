// Preloaded into a measured process (`node --import dist/bench/peak.js …`): when the process exits
// it prints one line on stderr, `nst-peak {"peakRss":…,"wasmHeap":…,"wasmHeapTouched":…}`, in
// bytes. The peak resident set is the kernel's high-water mark, so nothing has to sample it while
// the run goes on. The wasm heap never shrinks and its allocator never gives pages back, so at exit
// its size (address space reserved by growth) and its resident pages (memory ever used) are peaks.
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';

interface WasmModule {
  wasmMemory?: { buffer: ArrayBufferLike };
  HEAPU8?: Uint8Array;
}

function peakRss(): number {
  const status = fs.existsSync('/proc/self/status') ? fs.readFileSync('/proc/self/status', 'utf8') : '';
  const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
  return hwm ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

function wasmHeap(): number | null {
  // The engine's fields, read directly: tf.backend() would start a backend if none had been.
  const engine = tf.engine() as unknown as {
    backendName: string | null;
    backendInstance: { wasm?: WasmModule } | null;
  };
  if (engine.backendName !== 'wasm') return null;
  const wasm = engine.backendInstance?.wasm;
  return (wasm?.wasmMemory?.buffer ?? wasm?.HEAPU8?.buffer)?.byteLength ?? null;
}

/** Resident bytes of the heap's mapping: the one mapping of exactly the heap's size. */
function residentBytesOfMapping(size: number): number | null {
  if (!fs.existsSync('/proc/self/smaps')) return null;
  for (const block of fs.readFileSync('/proc/self/smaps', 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const [start, end] = block
      .slice(0, block.indexOf(' '))
      .split('-')
      .map((x) => parseInt(x, 16));
    const rss = /\nRss:\s+(\d+) kB/.exec(block);
    if (end! - start! === size && rss) return Number(rss[1]) * 1024;
  }
  return null;
}

process.on('exit', () => {
  const heap = wasmHeap();
  const report = {
    peakRss: peakRss(),
    wasmHeap: heap,
    wasmHeapTouched: heap === null ? null : residentBytesOfMapping(heap),
  };
  process.stderr.write(`nst-peak ${JSON.stringify(report)}\n`);
});
