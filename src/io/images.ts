/**
 * Image files: reading (checked against their header before decoding) into raw RGB tensors,
 * float32 [h, w, 3] with values 0..255, and writing images with values in [0, 1] atomically.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { Jimp } from 'jimp';
import { InputError } from '../errors.js';

import { writeFileAtomic, oneLine } from './atomic.js';
import { isPipe, readPipe, readRegularFile } from './files.js';
import { CODEC_MIMES, decodeCodec, encodeCodec, type CodecMime } from './codecs.js';
import { resizeRows, scaledSize } from './resample.js';
import {
  FORMAT_LIST,
  IMAGE_EXTENSIONS,
  MIME_BY_EXTENSION,
  pngChunks,
  readImageHeader,
  DEFAULT_MAX_INPUT_PIXELS,
  type Extension,
  type ImageFormat,
  type ImageHeader,
} from './header.js';

/** The extension of `file` if it is a known output format, else null. */
function outputExtension(file: string): Extension | null {
  const ext = path.extname(file).slice(1).toLowerCase();
  return Object.hasOwn(MIME_BY_EXTENSION, ext) ? (ext as Extension) : null;
}

function unknownExtensionError(file: string): InputError {
  const known = IMAGE_EXTENSIONS.map((e) => '.' + e).join(', ');
  return new InputError(
    `output image ${file}: unknown extension ${path.extname(file) || '(none)'}; use one of ${known}`,
  );
}

/** An error's message on one line, for messages that quote it. */

/**
 * The largest image file read: 16 bytes per pixel of the limit (16-bit RGBA stored without
 * compression takes 8) and room for metadata. A larger file cannot be an image within the limit.
 */
const maxImageBytes = (maxPixels: number) => maxPixels * 16 + 64 * 2 ** 20;

/**
 * Reads an image arriving through a pipe (`-`, a FIFO, a process substitution) whole, under the
 * same byte limit as a file, so that readImage takes it from memory later; nothing for a file.
 */
export async function readImagePipe(
  file: string,
  label: string,
  maxInputPixels = DEFAULT_MAX_INPUT_PIXELS,
): Promise<void> {
  if (!isPipe(file)) return;
  try {
    await readPipe(file, maxImageBytes(maxInputPixels), 'any image within the pixel limit can be');
  } catch (err) {
    throw new InputError(`${label} ${file}: ${(err as Error).message}`, { file });
  }
}

/** Options of readImage. */
export interface ReadImageOptions {
  /** Refuse images with more pixels than this, judged from the file header before decoding. */
  maxInputPixels?: number;
  /**
   * Shrink an image whose longer side is more than this to that side (bicubic, as scaleImage
   * does) as it is read, on plain arrays: no tensor of the full image is ever made.
   */
  maxSide?: number;
}

/**
 * Why the data of a file with this header is not all there, before decoding (decoders read a
 * missing rest as black): cut short, far too little data for the size in its header, or (PNG)
 * image data that inflates to fewer bytes than the size needs. Null if it is whole.
 */
async function dataProblem(header: ImageHeader, bytes: Buffer): Promise<string | null> {
  const { format, width, height, body } = header;
  const truncated = `truncated ${format} file`;
  if (!header.complete) return `${truncated} (it ends before its image data does)`;
  if (body && body.bytes < body.least) {
    return `${truncated} (${body.bytes} bytes of image data, where ${width}×${height} px need at least ${body.least})`;
  }
  if (header.rawBytes === undefined) return null;
  const inflated = await inflatedLength(pngChunks(bytes).data, header.rawBytes);
  if (inflated >= header.rawBytes) return null;
  return `${truncated} (its image data holds ${inflated} of the ${header.rawBytes} bytes ${width}×${height} px need)`;
}

/** How many bytes zlib data inflates to, counted without keeping them, up to `limit` (then more than it). */
function inflatedLength(chunks: readonly Buffer[], limit: number): Promise<number> {
  return new Promise((resolve) => {
    let length = 0;
    const inflate = zlib.createInflate();
    inflate.on('data', (part: Buffer) => {
      length += part.length;
      if (length > limit) inflate.destroy();
    });
    // A stream cut short is an error: what it gave is the count.
    for (const event of ['end', 'close', 'error']) inflate.on(event, () => resolve(length));
    for (const chunk of chunks) inflate.write(chunk);
    inflate.end();
  });
}

/** Why an image of this header is refused before decoding, or null if it may be decoded. */
function headerProblem(header: ImageHeader, maxPixels: number): string | null {
  const { width, height } = header;
  const size = `${width}×${height} px`;
  if (header.format === 'HEIC')
    return 'HEIC is not supported: convert it to JPEG first (heif-convert photo.heic photo.jpg, or export it as JPEG)';
  if (header.animated) return `animated ${header.format} is not supported: save the frame you want as a still image`;
  if (width < 1 || height < 1) return `image has no pixels (${size} in its ${header.format} header)`;
  if (width * height > maxPixels) {
    const limit = maxPixels.toLocaleString('en-US');
    return `${size} is more than the limit of ${limit} pixels`;
  }
  if (header.components === 4 && !header.adobe) {
    // jpeg-js knows how Adobe stores CMYK (inverted) and YCCK; without the marker it is guesswork.
    return 'CMYK JPEG without an Adobe marker is not supported; convert it to RGB';
  }
  return null;
}

/**
 * jpeg-js' work memory per pixel, in bytes, at most: 4 components of 4 (DCT blocks) + 1 (lines)
 * + 1 (output) bytes each, plus the 4-byte RGBA result.
 */
const JPEG_BYTES_PER_PIXEL = 28;

/**
 * Decodes with jimp. jpeg-js has limits of its own, 100 MP and 512 MB of work memory (which a
 * 30 MP JPEG without chroma subsampling exceeds): they are derived from ours instead.
 */
async function decode(
  format: ImageFormat,
  bytes: Buffer,
  maxPixels: number,
): Promise<{ data: Buffer; width: number; height: number }> {
  if (format === 'WebP' || format === 'AVIF')
    return decodeCodec(format === 'WebP' ? 'image/webp' : 'image/avif', bytes);
  const jpeg = {
    maxResolutionInMP: maxPixels / 1e6,
    maxMemoryUsageInMB: Math.ceil((maxPixels * JPEG_BYTES_PER_PIXEL) / 2 ** 20) + 64, // + tables, padding
  };
  return (await Jimp.fromBuffer(bytes, { 'image/jpeg': jpeg })).bitmap;
}

/**
 * Reads an image file as a raw RGB tensor [h, w, 3] (float32, 0..255).
 *
 * PNG, JPEG, BMP, GIF and TIFF are recognised by their first bytes. Before decoding, the size is
 * read from the file header and images of more than `options.maxInputPixels` pixels (default
 * DEFAULT_MAX_INPUT_PIXELS) or of no pixels are refused. jimp then decodes to 8-bit RGBA:
 * - alpha: transparent pixels are composited over white, so a transparent background reads as
 *   white rather than black (this includes PNG tRNS transparency);
 * - grayscale (PNG of 1 to 16 bits, JPEG) becomes 3 equal channels;
 * - palette PNGs are looked up in their palette (1 to 8 bits);
 * - 16-bit PNGs are scaled to 0..255, round(v / 257);
 * - CMYK JPEGs with an Adobe APP14 marker (Adobe's inverted CMYK, or YCCK) are converted with
 *   R = (1 - C)(1 - K) and so on, without colour management; 4-component JPEGs without that
 *   marker are refused;
 * - EXIF orientation (JPEG) is applied, so a portrait photo comes out upright.
 * Any failure is one InputError naming the file, prefixed with `label` ("content image", ...).
 */
export async function readImage(file: string, label = 'image', options: ReadImageOptions = {}): Promise<tf.Tensor3D> {
  const maxPixels = options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  if (!(maxPixels > 0)) throw new RangeError(`readImage: maxInputPixels must be positive, got ${maxPixels}`);
  // The pixel limit is a setting the caller can raise: the error says so in its detail.
  const fail = (problem: string, setting?: string) => new InputError(`${label} ${file}: ${problem}`, { file, setting });

  let bytes: Buffer;
  try {
    bytes = readRegularFile(file, maxImageBytes(maxPixels), 'any image within the pixel limit can be');
  } catch (err) {
    throw fail((err as Error).message, /more than/.test((err as Error).message) ? 'maxInputPixels' : undefined);
  }
  if (bytes.length === 0) throw fail('empty file');

  let header: ImageHeader | null;
  try {
    header = readImageHeader(bytes);
  } catch (err) {
    throw fail(`not a readable image (${oneLine(err)})`);
  }
  if (header === null) throw fail(`not an image (expected ${FORMAT_LIST})`);
  const problem = headerProblem(header, maxPixels);
  if (problem !== null) throw fail(problem, header.width * header.height > maxPixels ? 'maxInputPixels' : undefined);

  const short = await dataProblem(header, bytes);
  if (short !== null) throw fail(short);

  let bitmap: { data: Buffer; width: number; height: number };
  try {
    bitmap = await decode(header.format, bytes, maxPixels);
  } catch (err) {
    throw fail(`not a readable image (${oneLine(err)})`);
  }
  const { width, height } = bitmap;
  if (width < 1 || height < 1) throw fail('image has no pixels');
  const row = rgbRows(bitmap);
  const side = options.maxSide ?? Infinity;
  if (Math.max(width, height) > side) {
    const [h, w] = scaledSize(height, width, side);
    return tf.tensor3d(resizeRows(row, [height, width, 3], h, w), [h, w, 3], 'float32');
  }
  const rgb = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) rgb.set(row(y), y * width * 3);
  return tf.tensor3d(rgb, [height, width, 3], 'float32');
}

/** Row y of an RGBA bitmap as RGB floats, composited over white, in one buffer that the next call reuses. */
function rgbRows({ data, width }: { data: Buffer; width: number }): (y: number) => Float32Array {
  const rgb = new Float32Array(width * 3);
  return (y) => {
    for (let x = 0, p = y * width * 4; x < width; x++, p += 4) {
      const alpha = data[p + 3]! / 255;
      for (let c = 0; c < 3; c++) {
        // Over white: c * alpha + 255 * (1 - alpha); exactly c when the pixel is opaque.
        const value = data[p + c]!;
        rgb[3 * x + c] = alpha === 1 ? value : value * alpha + 255 * (1 - alpha);
      }
    }
    return rgb;
  };
}

/**
 * Throws an InputError, before any work is done, if an image cannot be written to `file`:
 * unknown extension, missing directory, or a directory that is not writable.
 */
export function checkOutputPath(file: string): void {
  if (outputExtension(file) === null) throw unknownExtensionError(file);
  checkWritable(file, 'output image');
}

/**
 * Throws an InputError naming `label` and `file` if `file` cannot be written: missing or read-only
 * directory, a directory itself, or an existing file that is read-only. The rename of an atomic
 * write would replace such a file whatever its mode: its own mode is checked here (no write bit
 * for anyone counts as read-only even for root, as rm sees it).
 */
export function checkWritable(file: string, label: string): void {
  const dir = path.dirname(path.resolve(file));
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new InputError(`${label} ${file}: directory ${dir} does not exist`);
  }
  if (!stat.isDirectory()) throw new InputError(`${label} ${file}: ${dir} is not a directory`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new InputError(`${label} ${file}: directory ${dir} is not writable`);
  }
  const existing = fs.statSync(file, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new InputError(`${label} ${file}: is a directory`);
  if (existing && (!canWrite(file) || (existing.mode & 0o222) === 0)) {
    throw new InputError(`${label} ${file}: the file exists and is read-only`);
  }
}

function canWrite(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes an image with values in [0, 1] ([h, w, 3] or [1, h, w, 3]) to `file`, in the format
 * its extension names. Values become round(x * 255), clipped to 0..255. The image is encoded in
 * memory, written to a hidden temporary file in the same directory and renamed onto `file`, so
 * `file` never holds a half-written image.
 */
export async function writeImage(file: string, image: tf.Tensor3D | tf.Tensor4D): Promise<void> {
  const ext = outputExtension(file);
  if (ext === null) throw unknownExtensionError(file);
  await writeFileAtomic(file, await encodeImage(image, MIME_BY_EXTENSION[ext]), 'output image');
}

/** An image with values in [0, 1] ([h, w, 3] or [1, h, w, 3]) encoded in memory (PNG by default). */
export async function encodeImage(image: tf.Tensor3D | tf.Tensor4D, mime = 'image/png'): Promise<Buffer> {
  const shape = image.rank === 4 ? image.shape.slice(1) : image.shape;
  if ((image.rank === 4 && image.shape[0] !== 1) || shape[2] !== 3) {
    throw new Error(`writeImage: expected [h, w, 3] or [1, h, w, 3], got [${image.shape.join(', ')}]`);
  }
  const [height, width] = shape as [number, number];
  const values = await image.data();
  // A Uint8Array with its own ArrayBuffer: Jimp.fromBitmap copies `data.buffer` whole, which for a
  // small pooled Buffer would be the pool. Alpha stays 255 (fully opaque).
  const rgba = new Uint8Array(width * height * 4).fill(255);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round(values[3 * p + c]! * 255);
      rgba[4 * p + c] = v > 255 ? 255 : v > 0 ? v : 0; // NaN ends up 0
    }
  }
  if (CODEC_MIMES.includes(mime))
    return encodeCodec(mime as CodecMime, { data: Buffer.from(rgba.buffer), width, height });
  return Jimp.fromBitmap({ data: rgba, width, height }).getBuffer(mime as 'image/png');
}
