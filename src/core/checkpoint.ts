import * as tf from '@tensorflow/tfjs';
import { SETTINGS, SHAPING_NAMES, type RunSettings, type Setting } from './settings.js';
import type { Checkpoint } from './stylize.js';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readRegularFile } from '../io/files.js';
import { isHostVector, type HostVector } from '../optim/types.js';

/**
 * A checkpoint file: the 8 bytes `NSTCKPT2`, a little-endian uint32 with the length of a JSON
 * header, the header (settings, input fingerprint, scale, counters, optimizer numbers, and the
 * name, shape and byte offset of every tensor), then the tensors' float32 data, each at its
 * offset from the end of the header. Everything else that a run needs (the targets) is
 * recomputed from the images.
 */
/**
 * Format 2 adds the convergence window's costs (recentBest) and the convergence settings; a run
 * with iterate averaging adds its sum (tensor `average`) and `averaged` (count and decay).
 */
const MAGIC = 'NSTCKPT2';

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
  recentBest: number[];
  optimizerValues: Record<string, number>;
  averaged?: { count: number; decay: number };
  tensors: TensorEntry[];
}

/** Writes a checkpoint atomically (a temporary file renamed onto `file`). */
export async function saveCheckpoint(file: string, checkpoint: Checkpoint): Promise<void> {
  const { state } = checkpoint;
  const named: [string, tf.Tensor][] = [
    ['image', state.image],
    ['bestImage', state.bestImage],
    ...(state.average ? [['average', state.average.sum] as [string, tf.Tensor]] : []),
    ...Object.entries(state.optimizer.tensors).map(([name, t]): [string, tf.Tensor] => [`optimizer.${name}`, t]),
  ];
  // An engine's host vectors are written as they are, without a copy into a tensor.
  const held = Object.entries(state.optimizer.arrays ?? {}).map(([name, v]): [string, HostVector] => [
    `optimizer.${name}`,
    v,
  ]);
  const tensors: TensorEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of [...named, ...held]) {
    const [data, shape] = isHostVector(t) ? [t.data, [...t.shape]] : [(await t.data()) as Float32Array, t.shape];
    tensors.push({ name, shape, offset });
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
    recentBest: state.recentBest,
    optimizerValues: state.optimizer.values,
    ...(state.average ? { averaged: { count: state.average.count, decay: state.average.decay } } : {}),
    tensors,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(json.length, 8);
  await writeFileAtomic(file, [prefix, json, ...parts], 'checkpoint');
}

/** A header that is not what the format says: the message says why. */
class HeaderError extends Error {}

/** A field of the header that is not what the format says: its path and what it must be. */
class FieldError extends HeaderError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`field ${field} ${problem}`);
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;

/** Checks `value` with `ok`; a FieldError naming `field` says it `must be …` otherwise. */
function expect<T>(value: unknown, field: string, ok: (x: unknown) => x is T, rule: string): T {
  if (!ok(value)) throw new FieldError(field, `must be ${rule}`);
  return value;
}

/**
 * Settings added to the table after format 2 began, with what a checkpoint made before them ran
 * with: whole (or tiled as needed), unmasked, no averaging, halving scales, fresh moments.
 */
const ADDED_LATER: Partial<Record<string, unknown>> = {
  tileSize: null,
  styleMasks: null,
  mask: null,
  invertMask: false,
  average: 0,
  carryMoments: false,
  scaleRatio: 2,
  minScale: null,
};

/** Resolved settings that may be null (none given). */
const NULLABLE = ['seed', 'tileSize', 'styleMasks', 'mask', 'minScale'];

/** The settings a checkpoint records, each checked by the settings table's own check. */
function checkSettings(value: unknown): RunSettings {
  const settings = expect(value, 'settings', isObject, 'an object');
  for (const name of SHAPING_NAMES) {
    if (settings[name] === undefined && name in ADDED_LATER) settings[name] = ADDED_LATER[name];
    const x = settings[name];
    if (NULLABLE.includes(name) && x === null) continue;
    const problem = x === undefined ? 'must be given' : (SETTINGS[name] as Setting<unknown>).check(x);
    if (problem !== null) throw new FieldError(`settings.${name}`, problem);
  }
  for (const name of ['scales', 'iterations', 'styleWeights', 'styleLayerWeights'] as const)
    expect(settings[name], `settings.${name}`, Array.isArray, 'a list');
  const scales = settings['scales'] as number[];
  if ((settings['iterations'] as number[]).length !== scales.length)
    throw new FieldError('settings.iterations', 'must have one count per scale');
  if ((settings['styleLayerWeights'] as number[]).length !== (settings['styleLayers'] as string[]).length)
    throw new FieldError('settings.styleLayerWeights', 'must have one weight per style layer');
  return settings as unknown as RunSettings;
}

/** The tensor entries of a header, each inside the `size` bytes of data after it. */
function checkTensors(value: unknown, size: number): TensorEntry[] {
  const entries = expect(value, 'tensors', Array.isArray, 'a list');
  return entries.map((entry: unknown, i) => {
    const where = `tensors[${i}]`;
    const { name, shape, offset } = expect(entry, where, isObject, 'an object');
    expect(name, `${where}.name`, (x): x is string => typeof x === 'string', 'a string');
    const dims = (x: unknown): x is number[] => Array.isArray(x) && x.every((d) => Number.isInteger(d) && d > 0);
    expect(shape, `${where}.shape`, dims, 'a list of positive integers');
    expect(offset, `${where}.offset`, isCount, 'a non-negative integer');
    const bytes = (shape as number[]).reduce((a, b) => a * b, 1) * 4;
    if ((offset as number) + bytes > size)
      throw new HeaderError(`cut short: tensor ${name as string} lies past its end`);
    return { name: name as string, shape: shape as number[], offset: offset as number };
  });
}

/**
 * The header of a checkpoint file, checked against the format: every field present with a value
 * of its kind, the image and best image at the scale's size, the optimizer's tensors of the
 * image's shape, every tensor inside the `size` bytes of data. A FieldError names the first wrong one.
 */
function checkHeader(value: unknown, size: number): Header {
  const header = expect(value, 'header', isObject, 'a JSON object');
  const settings = checkSettings(header['settings']);
  const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  expect(header['inputs'], 'inputs', (x): x is string => typeof x === 'string', 'a string');
  const scale = expect(header['scale'], 'scale', isCount, 'a non-negative integer');
  if (scale >= settings.scales.length)
    throw new FieldError('scale', `must be less than the ${settings.scales.length} scales`);
  const iteration = expect(header['iteration'], 'iteration', isCount, 'a non-negative integer');
  if (iteration > settings.iterations[scale]!)
    throw new FieldError('iteration', "must be within the scale's iterations");
  expect(header['evaluations'], 'evaluations', isCount, 'a non-negative integer');
  expect(header['bestCost'], 'bestCost', isNumber, 'a finite number');
  expect(header['converged'], 'converged', (x): x is boolean => typeof x === 'boolean', 'true or false');
  const isNumbers = (x: unknown): x is number[] => Array.isArray(x) && x.every(isNumber);
  expect(header['recentBest'], 'recentBest', isNumbers, 'a list of finite numbers');
  const values = expect(header['optimizerValues'], 'optimizerValues', isObject, 'an object');
  for (const [name, x] of Object.entries(values)) expect(x, `optimizerValues.${name}`, isNumber, 'a finite number');
  const tensors = checkTensors(header['tensors'], size);
  const shapeOf = (name: string) => tensors.find((t) => t.name === name)?.shape.join(',');
  const side = settings.scales[scale]!;
  const image = shapeOf('image');
  const [, h, w, c] = image?.split(',').map(Number) ?? [];
  if (!image || !/^1,\d+,\d+,3$/.test(image) || Math.max(h!, w!) !== side || c !== 3)
    throw new FieldError('tensors', `must hold an image of shape [1, h, w, 3] with its longest side ${side} px`);
  for (const t of tensors.filter((t) => t.name !== 'image'))
    if (t.shape.join(',') !== image)
      throw new FieldError('tensors', `must all have the image's shape (${t.name} has not)`);
  if (!shapeOf('bestImage')) throw new FieldError('tensors', 'must hold the best image');
  const averaged = header['averaged'];
  if (averaged !== undefined) {
    const { count, decay } = expect(averaged, 'averaged', isObject, 'an object');
    expect(count, 'averaged.count', isCount, 'a non-negative integer');
    expect(decay, 'averaged.decay', (x): x is number => isNumber(x) && x > 0 && x < 1, 'in (0, 1)');
    if (!shapeOf('average')) throw new FieldError('tensors', 'must hold the average it counts');
  }
  // L-BFGS records how many correction pairs it had: each needs its two tensors and its rho.
  const pairs = expect(values['pairs'] ?? 0, 'optimizerValues.pairs', isCount, 'a non-negative integer');
  if (values['pairsOffset'] !== undefined && !(isCount(values['pairsOffset']) && values['pairsOffset'] < pairs))
    throw new FieldError('optimizerValues.pairsOffset', 'must be an integer from 0 to pairs − 1');
  for (let i = 0; i < pairs; i++) {
    if (!shapeOf(`optimizer.s${i}`) || !shapeOf(`optimizer.y${i}`) || values[`rho${i}`] === undefined)
      throw new FieldError('optimizerValues.pairs', `says ${pairs} pairs, pair ${i} is missing`);
  }
  return header as unknown as Header;
}

/**
 * Reads a checkpoint written by `saveCheckpoint`; its tensors are new (release them with
 * `disposeCheckpoint`). A missing, foreign or damaged file is an InputError naming it, and a
 * header that is not what the format says names the field (`detail.file`, the message).
 */
export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  const fail = (problem: string) => new InputError(`checkpoint ${file}: ${problem}`, { file });
  let bytes: Buffer;
  try {
    bytes = readRegularFile(file);
  } catch (err) {
    throw fail((err as Error).message);
  }
  const magic = bytes.length < 12 ? '' : bytes.toString('latin1', 0, 8);
  if (magic === 'NSTCKPT1') throw fail('written by an older nst (format 1): start the run again');
  if (magic !== MAGIC) throw fail('not an nst checkpoint');
  const length = bytes.readUInt32LE(8);
  if (12 + length > bytes.length) throw fail('cut short in its header');
  let header: Header;
  try {
    header = checkHeader(JSON.parse(bytes.toString('utf8', 12, 12 + length)), bytes.length - 12 - length);
  } catch (err) {
    if (err instanceof HeaderError) throw fail(err.message);
    throw fail('damaged header (the file is cut short or corrupt)');
  }
  const base = 12 + length;
  const tensors: Record<string, tf.Tensor> = {};
  for (const { name, shape, offset } of header.tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    // A copy, aligned for Float32Array whatever the offset.
    const data = new Float32Array(
      bytes.buffer.slice(bytes.byteOffset + base + offset, bytes.byteOffset + base + offset + size * 4),
    );
    tf.dispose(tensors[name]); // a name given twice: the last one
    tensors[name] = tf.tensor(data, shape, 'float32');
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
      recentBest: header.recentBest,
      optimizer: { tensors: optimizerTensors, values: header.optimizerValues },
      average: header.averaged ? { sum: tensors['average'] as tf.Tensor4D, ...header.averaged } : null,
    },
  };
}

/** Releases a loaded checkpoint's tensors. */
export function disposeCheckpoint(checkpoint: Checkpoint): void {
  const { state } = checkpoint;
  tf.dispose([state.image, state.bestImage, ...Object.values(state.optimizer.tensors)]);
  state.average?.sum.dispose();
}
