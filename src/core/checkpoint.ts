import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { RunSettings } from './settings.js';
import type { Checkpoint } from './stylize.js';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';

/**
 * A checkpoint file: the 8 bytes `NSTCKPT1`, a little-endian uint32 with the length of a JSON
 * header, the header (settings, input fingerprint, scale, counters, optimizer numbers, and the
 * name, shape and byte offset of every tensor), then the tensors' float32 data, each at its
 * offset from the end of the header. Everything else that a run needs (the targets) is
 * recomputed from the images.
 */
const MAGIC = 'NSTCKPT1';

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
}

interface Header {
  settings: RunSettings;
  inputs: string;
  scale: number;
  iteration: number;
  evaluations: number;
  bestCost: number;
  converged: boolean;
  optimizerValues: Record<string, number>;
  tensors: TensorEntry[];
}

/** Writes a checkpoint atomically (a temporary file renamed onto `file`). */
export async function saveCheckpoint(file: string, checkpoint: Checkpoint): Promise<void> {
  const { state } = checkpoint;
  const named: [string, tf.Tensor][] = [
    ['image', state.image],
    ['bestImage', state.bestImage],
    ...Object.entries(state.optimizer.tensors).map(([name, t]): [string, tf.Tensor] => [`optimizer.${name}`, t]),
  ];
  const tensors: TensorEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of named) {
    const data = (await t.data()) as Float32Array;
    tensors.push({ name, shape: t.shape, offset });
    parts.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    offset += data.byteLength;
  }
  const header: Header = {
    settings: checkpoint.settings,
    inputs: checkpoint.inputs,
    scale: checkpoint.scale,
    iteration: state.iteration,
    evaluations: state.evaluations,
    bestCost: state.bestCost,
    converged: state.converged,
    optimizerValues: state.optimizer.values,
    tensors,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(json.length, 8);
  await writeFileAtomic(file, [prefix, json, ...parts], 'checkpoint');
}

/**
 * Reads a checkpoint written by `saveCheckpoint`; its tensors are new (release them with
 * `disposeCheckpoint`). A missing, foreign or damaged file is an InputError naming it.
 */
export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  const fail = (problem: string) => new InputError(`checkpoint ${file}: ${problem}`);
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (err) {
    throw fail(
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'file not found'
        : `cannot read file (${(err as Error).message})`,
    );
  }
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== MAGIC) throw fail('not an nst checkpoint');
  const length = bytes.readUInt32LE(8);
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', 12, 12 + length)) as Header;
  } catch {
    throw fail('damaged header (the file is cut short or corrupt)');
  }
  const base = 12 + length;
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const { name, shape, offset } of header.tensors ?? []) {
      const size = shape.reduce((a, b) => a * b, 1);
      if (base + offset + size * 4 > bytes.length) throw fail('cut short');
      // A copy, aligned for Float32Array whatever the offset.
      const data = new Float32Array(
        bytes.buffer.slice(bytes.byteOffset + base + offset, bytes.byteOffset + base + offset + size * 4),
      );
      tensors[name] = tf.tensor(data, shape, 'float32');
    }
    if (!tensors['image'] || !tensors['bestImage']) throw fail('no image in it');
  } catch (error) {
    tf.dispose(Object.values(tensors));
    throw error;
  }
  const optimizerTensors: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(tensors))
    if (name.startsWith('optimizer.')) optimizerTensors[name.slice('optimizer.'.length)] = t;
  return {
    settings: header.settings,
    inputs: header.inputs,
    scale: header.scale,
    state: {
      iteration: header.iteration,
      evaluations: header.evaluations,
      image: tensors['image'] as tf.Tensor4D,
      bestImage: tensors['bestImage'] as tf.Tensor4D,
      bestCost: header.bestCost,
      converged: header.converged,
      optimizer: { tensors: optimizerTensors, values: header.optimizerValues },
    },
  };
}

/** Releases a loaded checkpoint's tensors. */
export function disposeCheckpoint(checkpoint: Checkpoint): void {
  const { state } = checkpoint;
  tf.dispose([state.image, state.bestImage, ...Object.values(state.optimizer.tensors)]);
}
