/**
 * Image I/O and the pre-processing of the reference implementation: reading and writing image
 * files (jimp), TensorFlow's bicubic resize, `scale_image` and Keras' VGG19 `preprocess_input`.
 *
 * Pixel tensors: a "raw" image is float32 [h, w, 3] with values 0..255; a "scaled" image is the
 * model's working image, [1, h, w, 3] with values in [0, 1].
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Jimp } from 'jimp';
import { InputError } from '../errors.js';

/** Output formats by file extension (lower case, no dot); jimp 1.6 can write all of them. */
const MIME_BY_EXTENSION = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
} as const;
type Extension = keyof typeof MIME_BY_EXTENSION;

export const IMAGE_EXTENSIONS: readonly string[] = Object.keys(MIME_BY_EXTENSION);

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
function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * The default of readImage's `maxInputPixels`: 100 megapixels (10000×10000), more than nearly
 * every camera makes. The model only sees the image scaled to a few hundred pixels, while
 * reading it costs memory per pixel: up to 28 bytes of jpeg-js work buffers, 4 for the RGBA
 * bitmap, 12 for the float32 RGB copy; at 100 MP that is already several GB. It is also the
 * limit jpeg-js applied to JPEGs on its own before.
 */
export const DEFAULT_MAX_INPUT_PIXELS = 100_000_000;

/** Options of readImage. */
export interface ReadImageOptions {
  /** Refuse images with more pixels than this, judged from the file header before decoding. */
  maxInputPixels?: number;
}

/** The image file formats jimp decodes. */
export type ImageFormat = 'PNG' | 'JPEG' | 'BMP' | 'GIF' | 'TIFF';

/** What the first bytes of an image file say, read without decoding it. */
export interface ImageHeader {
  format: ImageFormat;
  /** For a multi-page TIFF, those of the largest page (jimp decodes every page). */
  width: number;
  height: number;
  /** False if the file lacks its format's end marker (PNG IEND, JPEG EOI): it was cut short. */
  complete: boolean;
  /** JPEG only: the number of colour components (1 gray, 3 YCbCr, 4 CMYK or YCCK). */
  components?: number;
  /** JPEG only: whether it has an Adobe APP14 marker, which says how 4 components are stored. */
  adobe?: boolean;
}

/** A format's header reader: null if the header is corrupt; RangeError if it is cut short. */
type HeaderReader = (bytes: Buffer) => ImageHeader | null;

/** Each format's signatures (first bytes) and header reader. */
const HEADER_READERS: ReadonlyArray<[ImageFormat, string[], HeaderReader]> = [
  ['PNG', ['89504e470d0a1a0a'], pngHeader],
  ['JPEG', ['ffd8ff'], jpegHeader],
  ['BMP', ['424d'], bmpHeader], // "BM"
  ['GIF', ['47494638'], gifHeader], // "GIF8": GIF87a and GIF89a
  ['TIFF', ['49492a00', '4d4d002a'], tiffHeader], // "II*\0" little-endian, "MM\0*" big-endian
];

/** "PNG, JPEG, BMP, GIF or TIFF", for messages. */
const FORMAT_LIST = HEADER_READERS.map(([format]) => format)
  .join(', ')
  .replace(/, (\w+)$/, ' or $1');

/**
 * Format and size from the header of an image file, without decoding it; null if the bytes
 * start with none of the known signatures. Throws an Error if the header is cut short or corrupt.
 */
export function readImageHeader(bytes: Buffer): ImageHeader | null {
  for (const [format, signatures, read] of HEADER_READERS) {
    if (!signatures.some((hex) => bytes.subarray(0, hex.length / 2).equals(Buffer.from(hex, 'hex')))) continue;
    let header: ImageHeader | null;
    try {
      header = read(bytes);
    } catch (err) {
      // The readers leave bounds checks to Buffer: reading past the end is a RangeError.
      if (!(err instanceof RangeError)) throw err;
      header = null;
    }
    if (header === null) throw new Error(`cut short or corrupt ${format} header`);
    return header;
  }
  return null;
}

/** PNG: the IHDR chunk comes first, with width and height big-endian after its type. */
function pngHeader(bytes: Buffer): ImageHeader | null {
  if (bytes.toString('latin1', 12, 16) !== 'IHDR') return null;
  const complete = bytes.lastIndexOf('IEND', undefined, 'latin1') > 16;
  return { format: 'PNG', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), complete };
}

/** JPEG start-of-frame markers SOF0..SOF15; C4 (DHT), C8 (JPG) and CC (DAC) are not frames. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * JPEG: walks the marker segments up to the first scan (SOS). The frame header (SOFn) holds
 * height, width and the component count; an APP14 segment starting "Adobe" marks Adobe's CMYK.
 */
function jpegHeader(bytes: Buffer): ImageHeader | null {
  let frame: { width: number; height: number; components: number } | null = null;
  let adobe = false;
  let offset = 2;
  for (;;) {
    if (bytes.readUInt8(offset) !== 0xff) return null; // not a marker where one should be
    const marker = bytes.readUInt8(offset + 1);
    if (marker === 0xff) {
      offset++; // fill byte before a marker
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // SOS or EOI: the header is over
    const length = bytes.readUInt16BE(offset + 2);
    if (isStartOfFrame(marker) && frame === null) {
      const [height, width] = [bytes.readUInt16BE(offset + 5), bytes.readUInt16BE(offset + 7)];
      frame = { width, height, components: bytes.readUInt8(offset + 9) };
    }
    if (marker === 0xee && bytes.toString('latin1', offset + 4, offset + 9) === 'Adobe') adobe = true;
    offset += 2 + length;
  }
  if (frame === null) return null; // no frame header before the image data
  // EOI cannot occur inside the compressed data (0xFF bytes there are escaped).
  const complete = bytes.lastIndexOf(Buffer.from([0xff, 0xd9])) > offset;
  return { format: 'JPEG', ...frame, adobe, complete };
}

/** BMP: the info header after the 14-byte file header; OS/2's 12-byte version has 16-bit sizes. */
function bmpHeader(bytes: Buffer): ImageHeader {
  const os2 = bytes.readUInt32LE(14) === 12;
  const width = os2 ? bytes.readUInt16LE(18) : bytes.readInt32LE(18);
  const height = os2 ? bytes.readUInt16LE(20) : Math.abs(bytes.readInt32LE(22)); // negative: rows top-down
  return { format: 'BMP', width, height, complete: true };
}

/** GIF: the logical screen size, which is what jimp decodes the first frame into. */
function gifHeader(bytes: Buffer): ImageHeader {
  return { format: 'GIF', width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8), complete: true };
}

/**
 * TIFF: follows the chain of image file directories (IFDs, one per page) and returns the largest
 * page's ImageWidth (tag 256) and ImageLength (tag 257), each a SHORT (type 3) or LONG (type 4).
 */
function tiffHeader(bytes: Buffer): ImageHeader {
  const little = bytes.readUInt8(0) === 0x49;
  const u16 = (at: number) => (little ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at));
  const u32 = (at: number) => (little ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
  const largest = { width: 0, height: 0 };
  const seen = new Set<number>(); // a corrupt chain may loop
  let ifd = u32(4);
  while (ifd !== 0 && !seen.has(ifd)) {
    seen.add(ifd);
    const count = u16(ifd);
    const page = { width: 0, height: 0 };
    for (let entry = ifd + 2; entry < ifd + 2 + 12 * count; entry += 12) {
      const [tag, type] = [u16(entry), u16(entry + 2)];
      const value = type === 3 ? u16(entry + 8) : type === 4 ? u32(entry + 8) : 0;
      if (tag === 256) page.width = value;
      if (tag === 257) page.height = value;
    }
    if (page.width * page.height >= largest.width * largest.height) Object.assign(largest, page);
    ifd = u32(ifd + 2 + 12 * count); // the next page's IFD, 0 after the last
  }
  return { format: 'TIFF', ...largest, complete: true };
}

/** Why an image of this header is refused before decoding, or null if it may be decoded. */
function headerProblem(header: ImageHeader, maxPixels: number): string | null {
  const { width, height } = header;
  const size = `${width}×${height} px`;
  if (width < 1 || height < 1) return `image has no pixels (${size} in its ${header.format} header)`;
  if (width * height > maxPixels) {
    const limit = maxPixels.toLocaleString('en-US');
    return `${size} is more than the limit of ${limit} pixels (raise it with --max-input-pixels)`;
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
async function decode(bytes: Buffer, maxPixels: number): Promise<{ data: Buffer; width: number; height: number }> {
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
  const fail = (problem: string) => new InputError(`${label} ${file}: ${problem}`);

  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'file not found' : `cannot read file (${oneLine(err)})`);
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
  if (problem !== null) throw fail(problem);

  let bitmap: { data: Buffer; width: number; height: number };
  try {
    bitmap = await decode(bytes, maxPixels);
  } catch (err) {
    const what = header.complete ? 'not a readable image' : `truncated ${header.format} file`;
    throw fail(`${what} (${oneLine(err)})`);
  }
  const { data, width, height } = bitmap;
  if (width < 1 || height < 1) throw fail('image has no pixels');

  const rgb = new Float32Array(width * height * 3);
  for (let p = 0, q = 0; p < width * height; p++, q += 3) {
    const alpha = data[4 * p + 3] / 255;
    for (let c = 0; c < 3; c++) {
      // Over white: c * alpha + 255 * (1 - alpha); exactly c when the pixel is opaque.
      const value = data[4 * p + c];
      rgb[q + c] = alpha === 1 ? value : value * alpha + 255 * (1 - alpha);
    }
  }
  return tf.tensor3d(rgb, [height, width, 3], 'float32');
}

/**
 * Throws an InputError, before any work is done, if an image cannot be written to `file`:
 * unknown extension, missing directory, or a directory that is not writable.
 */
export function checkOutputPath(file: string): void {
  if (outputExtension(file) === null) throw unknownExtensionError(file);
  checkWritable(file, 'output image');
}

/** Throws an InputError naming `label` and `file` if `file` cannot be written: missing or read-only directory, or a directory itself. */
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
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
    throw new InputError(`${label} ${file}: is a directory`);
  }
}

/** Makes temporary names unique within the process, for concurrent writes to the same path. */
let tempCounter = 0;

/**
 * Writes an image with values in [0, 1] ([h, w, 3] or [1, h, w, 3]) to `file`, in the format
 * its extension names. Values become round(x * 255), clipped to 0..255. The image is encoded in
 * memory, written to a hidden temporary file in the same directory and renamed onto `file`, so
 * `file` never holds a half-written image.
 */
export async function writeImage(file: string, image: tf.Tensor3D | tf.Tensor4D): Promise<void> {
  const ext = outputExtension(file);
  if (ext === null) throw unknownExtensionError(file);
  const shape = image.rank === 4 ? image.shape.slice(1) : image.shape;
  if ((image.rank === 4 && image.shape[0] !== 1) || shape[2] !== 3) {
    throw new Error(`writeImage: expected [h, w, 3] or [1, h, w, 3], got [${image.shape.join(', ')}]`);
  }
  const [height, width] = shape;

  const values = await image.data();
  // A Uint8Array with its own ArrayBuffer: Jimp.fromBitmap copies `data.buffer` whole, which for a
  // small pooled Buffer would be the pool. Alpha stays 255 (fully opaque).
  const rgba = new Uint8Array(width * height * 4).fill(255);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round(values[3 * p + c] * 255);
      rgba[4 * p + c] = v > 255 ? 255 : v > 0 ? v : 0; // NaN ends up 0
    }
  }
  const encoded = await Jimp.fromBitmap({ data: rgba, width, height }).getBuffer(MIME_BY_EXTENSION[ext]);
  await writeFileAtomic(file, encoded, 'output image');
}

/**
 * Writes `bytes` to a hidden temporary file beside `file` and renames it onto `file`: `file` holds
 * either its old content or the whole new one, never a part (a full disk fails before the rename).
 * A failure is an Error `cannot write <what> <file>: <reason>` and leaves no temporary file.
 */
export async function writeFileAtomic(
  file: string,
  bytes: Uint8Array | readonly Uint8Array[],
  what: string,
): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${tempCounter++}`);
  try {
    const handle = await fs.promises.open(temp, 'w');
    try {
      // writeFile writes a part whole, from the current position.
      for (const part of bytes instanceof Uint8Array ? [bytes] : bytes) await handle.writeFile(part);
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temp, file);
  } catch (err) {
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw new Error(`cannot write ${what} ${file}: ${oneLine(err)}`, { cause: err });
  }
}

/** Keys' cubic convolution kernel with a = -0.5 (the one TensorFlow's bicubic resize uses). */
function keys(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/** TensorFlow samples the kernel from a table at multiples of 1/1024 of a pixel. */
const TABLE_SIZE = 1024;

/** For one axis: the 4 source indices per output pixel (clamped) and their weights. */
interface AxisTaps {
  indices: Int32Array[]; // 4 arrays of length outSize
  weights: Float32Array[]; // 4 arrays of length outSize
}

/**
 * The taps of TensorFlow's resize_bicubic with half_pixel_centers (what tf.image.resize uses for
 * 'bicubic' without antialias), replicating its float32 arithmetic so the weights are identical:
 * source position (i + 0.5) * scale - 0.5 with scale = in / out; taps floor(pos) - 1 .. + 2;
 * the fractional part is rounded to 1/1024 (TF's lookup table); taps outside the image get
 * weight 0 and the weights are renormalised to sum to 1.
 */
function axisTaps(inSize: number, outSize: number): AxisTaps {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  const indices = [0, 1, 2, 3].map(() => new Int32Array(outSize));
  const weights = [0, 1, 2, 3].map(() => new Float32Array(outSize));
  for (let i = 0; i < outSize; i++) {
    const pos = f(f((i + 0.5) * scale) - 0.5);
    const base = Math.floor(pos);
    const offset = roundHalfEven((pos - base) * TABLE_SIZE) / TABLE_SIZE;
    const w = [keys(offset + 1), keys(offset), keys(1 - offset), keys(2 - offset)].map(f);
    for (let k = 0; k < 4; k++) {
      const src = base - 1 + k;
      const inside = src >= 0 && src < inSize;
      indices[k][i] = Math.min(inSize - 1, Math.max(0, src)); // any valid index; its weight is 0
      if (!inside) w[k] = 0;
    }
    const norm = f(1 / f(f(f(w[0] + w[1]) + w[2]) + w[3]));
    for (let k = 0; k < 4; k++) weights[k][i] = f(w[k] * norm);
  }
  return { indices, weights };
}

/** C's lrintf in the default rounding mode: to nearest, ties to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Bicubic resize exactly as TensorFlow 2's tf.image.resize(method='bicubic', antialias=False),
 * with TF's weights (see axisTaps). Separable: rows first, then columns (TF's order), summed in
 * float64 on the pixel data, so the result is TF's to float32 rounding. Plain JS on the data is
 * much faster than gathers on the wasm/cpu backends (a 4000 px image takes well under a second),
 * but it is not differentiable: use it on images, not inside tf.grad. Works for any channel
 * count; takes [1, h, w, c] or [h, w, c] and returns the same rank, float32.
 */
export function resizeBicubic<T extends tf.Tensor3D | tf.Tensor4D>(image: T, height: number, width: number): T {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`resizeBicubic: size must be positive integers, got ${height}x${width}`);
  }
  if (image.rank === 4 && image.shape[0] !== 1) {
    throw new Error(`resizeBicubic: expected a batch of 1, got [${image.shape.join(', ')}]`);
  }
  const [inHeight, inWidth, channels] = image.rank === 4 ? image.shape.slice(1) : image.shape;
  const src = image.dataSync();
  const rowLength = inWidth * channels;

  // Rows: mid[y] = sum over the 4 taps of weight * source row (taps with weight 0 are skipped).
  const rows = axisTaps(inHeight, height);
  const mid = new Float64Array(height * rowLength);
  for (let y = 0; y < height; y++) {
    for (let k = 0; k < 4; k++) {
      const weight = rows.weights[k][y];
      if (weight === 0) continue;
      const from = rows.indices[k][y] * rowLength;
      const to = y * rowLength;
      for (let j = 0; j < rowLength; j++) mid[to + j] += weight * src[from + j];
    }
  }

  // Columns: out[y, x] = sum over the 4 taps of weight * mid[y, tap].
  const cols = axisTaps(inWidth, width);
  const out = new Float32Array(height * width * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) {
          const weight = cols.weights[k][x];
          if (weight !== 0) sum += weight * mid[(y * inWidth + cols.indices[k][x]) * channels + c];
        }
        out[(y * width + x) * channels + c] = sum;
      }
    }
  }
  return (
    image.rank === 4 ? tf.tensor4d(out, [1, height, width, channels]) : tf.tensor3d(out, [height, width, channels])
  ) as T;
}

/** Target size that makes the larger side `maxSide`, keeping the aspect ratio (at least 1 px). */
export function scaledSize(height: number, width: number, maxSide: number): [number, number] {
  // Multiply first: the integer product is exact, so halves round the same way every time.
  if (height >= width) return [maxSide, Math.max(1, Math.round((width * maxSide) / height))];
  return [Math.max(1, Math.round((height * maxSide) / width)), maxSide];
}

/**
 * The reference's scale_image: bicubic resize of a raw [h, w, 3] image so its larger side is
 * `maxSide`, then / 255 and clipped to [0, 1] (bicubic overshoots). Returns [1, h', w', 3].
 */
export function scaleImage(image: tf.Tensor3D, maxSide = 512): tf.Tensor4D {
  if (!Number.isInteger(maxSide) || maxSide < 1) {
    throw new Error(`scaleImage: maxSide must be a positive integer, got ${maxSide}`);
  }
  const [height, width] = scaledSize(image.shape[0], image.shape[1], maxSide);
  return tf.tidy(() => {
    const resized = resizeBicubic(tf.expandDims(image, 0) as tf.Tensor4D, height, width);
    return tf.clipByValue(tf.div<tf.Tensor4D>(resized, 255), 0, 1);
  });
}

/** ImageNet channel means of Keras' VGG preprocessing, in B, G, R order. */
const VGG_MEANS_BGR = [103.939, 116.779, 123.68];

/**
 * Keras' vgg19.preprocess_input ("caffe" mode) on a scaled image: x * 255, RGB -> BGR, minus the
 * ImageNet means. Built from differentiable ops since it runs inside the gradient computation.
 */
export function vggPreprocess(scaled: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sub<tf.Tensor4D>(tf.reverse(tf.mul(scaled, 255), 3), tf.tensor1d(VGG_MEANS_BGR)));
}
