/**
 * Optical flow files in the Middlebury `.flo` format: the float 202021.25 ("PIEH"), the width and
 * height as int32, then (u, v) per pixel as float32, row-major, little-endian.
 */
import * as fs from 'node:fs';
import { InputError } from '../errors.js';

const MAGIC = 202021.25;

/** A flow field as read: per pixel (u, v) in pixels, [height·width] each. */
export interface FloFlow {
  width: number;
  height: number;
  u: Float32Array;
  v: Float32Array;
}

/** Reads a `.flo` file; an InputError names the file when it is missing or not one. */
export function readFlo(file: string): FloFlow {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new InputError(`flow file ${file}: cannot be read`, { file });
  }
  const bad = (why: string) => new InputError(`flow file ${file}: ${why}`, { file });
  if (bytes.length < 12 || bytes.readFloatLE(0) !== MAGIC) throw bad('not a Middlebury .flo file');
  const width = bytes.readInt32LE(4);
  const height = bytes.readInt32LE(8);
  if (!(width > 0 && height > 0) || bytes.length !== 12 + 8 * width * height)
    throw bad(`its size does not match its ${width}×${height} header`);
  const u = new Float32Array(width * height);
  const v = new Float32Array(width * height);
  for (let i = 0; i < u.length; i++) {
    u[i] = bytes.readFloatLE(12 + 8 * i);
    v[i] = bytes.readFloatLE(16 + 8 * i);
  }
  return { width, height, u, v };
}

/** Writes a `.flo` file (for tests and tools that make flow for `--flow-dir`). */
export function writeFlo(file: string, { width, height, u, v }: FloFlow): void {
  const bytes = Buffer.alloc(12 + 8 * width * height);
  bytes.writeFloatLE(MAGIC, 0);
  bytes.writeInt32LE(width, 4);
  bytes.writeInt32LE(height, 8);
  for (let i = 0; i < width * height; i++) {
    bytes.writeFloatLE(u[i]!, 12 + 8 * i);
    bytes.writeFloatLE(v[i]!, 16 + 8 * i);
  }
  fs.writeFileSync(file, bytes);
}
