import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Jimp } from 'jimp';
import { InputError } from '../../src/errors.js';
import { DEFAULT_MAX_INPUT_PIXELS, IMAGE_EXTENSIONS, readImageHeader, type ImageFormat } from '../../src/io/header.js';
import { checkOutputPath, readImage, writeImage, type ReadImageOptions } from '../../src/io/images.js';
import { assertClose, lcg } from '../helpers.js';
import { be16, encodePng, jimpImage, jpegSegment, pngChunk, withOrientation, type PngSpec } from '../images.js';

let tmp = '';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'nst-preprocess-'));
});

after(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

/** A small RGBA bitmap with random channel values, alpha 255. */
function testBitmap(w: number, h: number, seed: number): Buffer {
  const next = lcg(seed);
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : Math.floor(next() * 256);
  return data;
}

/** The RGB part of an RGBA bitmap as numbers. */
function rgbOf(rgba: Buffer): number[] {
  return [...rgba].filter((_, i) => i % 4 !== 3);
}

/** Asserts that readImage fails with one InputError, on one line, naming the label and the file. */
async function assertUnreadable(file: string, reason: RegExp, options?: ReadImageOptions): Promise<void> {
  await assert.rejects(readImage(file, 'style image', options), (err: unknown) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`style image ${file}: `), err.message);
    assert.match(err.message, reason);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

describe('readImage and writeImage', () => {
  it('IMAGE_EXTENSIONS lists the writable formats', () => {
    assert.deepEqual([...IMAGE_EXTENSIONS].sort(), ['avif', 'bmp', 'jpeg', 'jpg', 'png', 'tif', 'tiff', 'webp']);
  });

  it('reads a PNG exactly as [h, w, 3] 0..255', async () => {
    const data = testBitmap(5, 3, 11);
    const file = path.join(tmp, 'in.png');
    await fs.promises.writeFile(file, await jimpImage(data, 5, 3).getBuffer('image/png'));
    const image = await readImage(file);
    assert.equal(image.dtype, 'float32');
    assert.deepEqual(image.shape, [3, 5, 3]);
    assert.deepEqual([...image.dataSync()], rgbOf(data));
    image.dispose();
  });

  for (const ext of ['png', 'bmp', 'tif']) {
    it(`writes and reads back ${ext} exactly, leaving no temporary file`, async () => {
      const dir = await fs.promises.mkdtemp(path.join(tmp, `${ext}-`));
      const bytes = rgbOf(testBitmap(6, 4, 5));
      const image = tf.tensor4d(
        bytes.map((v) => v / 255),
        [1, 4, 6, 3],
      );
      const file = path.join(dir, `out.${ext}`);
      await writeImage(file, image);
      assert.deepEqual(await fs.promises.readdir(dir), [`out.${ext}`]);
      const back = await readImage(file);
      assert.deepEqual([...back.dataSync()], bytes);
      tf.dispose([image, back]);
    });
  }

  for (const [ext, format] of [
    ['jpg', 'JPEG'],
    ['webp', 'WebP'],
    ['avif', 'AVIF'],
  ] as const)
    it(`writes ${ext} approximately (a smooth image), and reads its header`, async () => {
      const h = 16;
      const w = 24;
      const values = Array.from({ length: h * w * 3 }, (_, i) => {
        const [y, x, c] = [Math.floor(i / (w * 3)), Math.floor(i / 3) % w, i % 3];
        return (x / w + y / h + c) / 4;
      });
      const image = tf.tensor3d(values, [h, w, 3]);
      const file = path.join(tmp, `smooth.${ext}`);
      await writeImage(file, image);
      const header = readImageHeader(await fs.promises.readFile(file));
      assert.deepEqual(header && [header.format, header.width, header.height, header.complete], [format, w, h, true]);
      const back = await readImage(file);
      assert.deepEqual(back.shape, [h, w, 3]);
      const diff =
        Array.from(back.dataSync()).reduce((s, v, i) => s + Math.abs(v - values[i]! * 255), 0) / values.length;
      assert.ok(diff < 3, `${ext}: mean abs error ${diff}`);
      tf.dispose([image, back]);
    });

  it('rounds x * 255 and clips', async () => {
    const image = tf.tensor3d([-0.2, 1.5, 0.25, 0.1, 0.8, 1], [1, 2, 3]);
    const file = path.join(tmp, 'clip.png');
    await writeImage(file, image);
    const back = await readImage(file);
    assert.deepEqual([...back.dataSync()], [0, 255, 64, 26, 204, 255]);
    tf.dispose([image, back]);
  });

  it('replaces an existing file; a failed write leaves it and no temporary file', async () => {
    const dir = await fs.promises.mkdtemp(path.join(tmp, 'replace-'));
    const file = path.join(dir, 'out.png');
    await fs.promises.writeFile(file, 'old');
    const image = tf.ones([2, 2, 3]) as tf.Tensor3D;
    await writeImage(file, image);
    const back = await readImage(file);
    assert.deepEqual([...back.dataSync()], new Array(12).fill(255));
    back.dispose();
    // A directory where the file should go makes the rename fail.
    const blocked = path.join(dir, 'blocked.png');
    await fs.promises.mkdir(blocked);
    await assert.rejects(writeImage(blocked, image), /blocked\.png/);
    assert.deepEqual((await fs.promises.readdir(dir)).sort(), ['blocked.png', 'out.png']);
    await assert.rejects(writeImage(path.join(dir, 'out.gif'), image), InputError);
    image.dispose();
  });

  it('reads the real tubingen.jpg as [768, 1024, 3]', async () => {
    const image = await readImage(path.resolve(process.cwd(), '../shared/images/tubingen.jpg'), 'content image');
    assert.deepEqual(image.shape, [768, 1024, 3]);
    const [min, max] = [image.min().dataSync()[0], image.max().dataSync()[0]];
    assert.ok(min >= 0 && max <= 255 && max > min);
    image.dispose();
  });

  it('errors: missing, not an image, empty, truncated, corrupt header', async () => {
    await assertUnreadable(path.join(tmp, 'missing.jpg'), /not found/);
    const text = path.join(tmp, 'text.jpg');
    await fs.promises.writeFile(text, 'this is not a JPEG\n');
    await assertUnreadable(text, /: not an image \(expected PNG, JPEG, BMP, GIF, TIFF, WebP or AVIF\)$/);
    const empty = path.join(tmp, 'empty.png');
    await fs.promises.writeFile(empty, '');
    await assertUnreadable(empty, /: empty file$/);
    const bitmap = testBitmap(24, 24, 2);
    for (const mime of ['image/png', 'image/jpeg'] as const) {
      const bytes = await jimpImage(bitmap, 24, 24).getBuffer(mime);
      const format = mime === 'image/png' ? 'PNG' : 'JPEG';
      const truncated = path.join(tmp, `truncated.${format}`);
      await fs.promises.writeFile(truncated, bytes.subarray(0, bytes.length >> 1));
      await assertUnreadable(truncated, new RegExp(`: truncated ${format} file \\(`));
      const headerOnly = path.join(tmp, `header-only.${format}`);
      await fs.promises.writeFile(headerOnly, bytes.subarray(0, 14));
      await assertUnreadable(
        headerOnly,
        new RegExp(`: not a readable image \\(cut short or corrupt ${format} header\\)$`),
      );
    }
    await assertUnreadable(tmp, /is a directory, not a regular file/);
  });

  it('composites transparent pixels over white', async () => {
    // Pixels: opaque, fully transparent, half transparent (alpha 128).
    const data = Buffer.from([10, 20, 30, 255, 10, 20, 30, 0, 200, 0, 100, 128]);
    const file = path.join(tmp, 'alpha.png');
    await fs.promises.writeFile(file, await jimpImage(data, 3, 1).getBuffer('image/png'));
    const image = await readImage(file);
    const a = 128 / 255;
    const expected = [10, 20, 30, 255, 255, 255, ...[200, 0, 100].map((v) => v * a + 255 * (1 - a))];
    assertClose(image.dataSync(), expected, 1e-3, 'alpha');
    image.dispose();
  });

  it('reads a grayscale PNG as 3 equal channels', async () => {
    const data = Buffer.from([0, 0, 0, 255, 90, 90, 90, 255, 255, 255, 255, 255]);
    // colorType 0: pngjs stores 1 gray channel without alpha
    const png = await jimpImage(data, 3, 1).getBuffer('image/png', { colorType: 0 });
    assert.equal(png[25], 0, 'IHDR colour type is grayscale');
    const file = path.join(tmp, 'gray.png');
    await fs.promises.writeFile(file, png);
    const image = await readImage(file);
    assert.deepEqual(image.shape, [1, 3, 3]);
    assert.deepEqual([...image.dataSync()], [0, 0, 0, 90, 90, 90, 255, 255, 255]);
    image.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// More hand-made image files (see images.ts). Generated, never committed.

/**
 * A baseline JPEG of flat 8×8 blocks: `value(bx, by, c)` (0..255) for block column bx, row by and
 * component c (width and height multiples of 8). jimp writes only 3-component JPEGs, hence this.
 * Each block has only a DC coefficient; with a quantisation step of 8 the coded DC value is
 * value - 128 itself. Huffman tables: DC categories 0..11 get the 4-bit codes 0..11, AC has only
 * end-of-block, code "0". The samples are stored as given: jpeg-js decides from the component
 * count and the Adobe marker (`adobeTransform`: 0 CMYK, 2 YCCK) how to turn them into RGB.
 */
function encodeFlatJpeg(
  width: number,
  height: number,
  components: number,
  value: (bx: number, by: number, c: number) => number,
  adobeTransform?: number,
): Buffer {
  const ids = Array.from({ length: components }, (_, i) => i + 1);
  const segments: Uint8Array[] = [Buffer.from([0xff, 0xd8])]; // SOI
  if (adobeTransform !== undefined) {
    // "Adobe", version 100, flags0, flags1, transform
    segments.push(jpegSegment(0xffee, [...Buffer.from('Adobe'), 0, 100, 0, 0, 0, 0, adobeTransform]));
  }
  segments.push(jpegSegment(0xffdb, [0, 8, ...new Array(63).fill(1)])); // DQT: table 0
  // SOF0: precision, height, width, then id, sampling factors 1×1 and quantisation table 0 for each
  const size = [height >> 8, height & 255, width >> 8, width & 255];
  segments.push(jpegSegment(0xffc0, [8, ...size, components, ...ids.flatMap((id) => [id, 0x11, 0])]));
  // DHT: class and id, the number of codes of each length 1..16, the symbols
  const dcSymbols = Array.from({ length: 12 }, (_, i) => i);
  segments.push(jpegSegment(0xffc4, [0x00, 0, 0, 0, 12, ...new Array(12).fill(0), ...dcSymbols]));
  segments.push(jpegSegment(0xffc4, [0x10, 1, ...new Array(15).fill(0), 0x00]));
  // SOS: each component with DC and AC table 0, spectral selection 0..63, no approximation
  segments.push(jpegSegment(0xffda, [components, ...ids.flatMap((id) => [id, 0x00]), 0, 63, 0]));

  const data: number[] = [];
  let bits = 0;
  let count = 0;
  const put = (code: number, length: number) => {
    for (let i = length - 1; i >= 0; i--) {
      bits = (bits << 1) | ((code >> i) & 1);
      if (++count < 8) continue;
      data.push(bits, ...(bits === 0xff ? [0] : [])); // a 0xFF data byte is followed by 0
      bits = count = 0;
    }
  };
  const previous = new Array<number>(components).fill(0);
  for (let by = 0; by < height / 8; by++) {
    for (let bx = 0; bx < width / 8; bx++) {
      for (let c = 0; c < components; c++) {
        const dc = value(bx, by, c) - 128;
        const diff = dc - previous[c];
        previous[c] = dc;
        const category = diff === 0 ? 0 : 32 - Math.clz32(Math.abs(diff));
        put(category, 4);
        put(diff >= 0 ? diff : diff + (1 << category) - 1, category); // negative: ones' complement
        put(0, 1); // end of block
      }
    }
  }
  if (count > 0) put(0xff, 8 - count); // pad with 1 bits
  return Buffer.concat([...segments, Buffer.from(data), Buffer.from([0xff, 0xd9])]);
}

/** The start of a TIFF: one IFD per page holding only ImageWidth (LONG) and ImageLength (SHORT). */
function tiffStart(pages: Array<[number, number]>, littleEndian = true): Buffer {
  const bytes = Buffer.alloc(8 + 30 * pages.length); // an IFD: count, 2 entries of 12, next offset
  const u16 = (value: number, at: number) =>
    littleEndian ? bytes.writeUInt16LE(value, at) : bytes.writeUInt16BE(value, at);
  const u32 = (value: number, at: number) =>
    littleEndian ? bytes.writeUInt32LE(value, at) : bytes.writeUInt32BE(value, at);
  // An IFD entry: tag, type (3 SHORT, 4 LONG), count 1, the value left-justified in 4 bytes.
  const entry = (at: number, tag: number, type: 3 | 4, value: number) => {
    u16(tag, at);
    u16(type, at + 2);
    u32(1, at + 4);
    (type === 3 ? u16 : u32)(value, at + 8);
  };
  bytes.write(littleEndian ? 'II' : 'MM', 0, 'latin1');
  u16(42, 2);
  u32(8, 4); // the first IFD
  pages.forEach(([width, height], i) => {
    const ifd = 8 + 30 * i;
    u16(2, ifd);
    entry(ifd + 2, 256, 4, width);
    entry(ifd + 14, 257, 3, height);
    u32(i + 1 < pages.length ? ifd + 30 : 0, ifd + 26); // the next IFD, 0 after the last
  });
  return bytes;
}

/** The start of a BMP: the file header and the start of a 40-byte info header. */
function bmpStart(width: number, height: number): Buffer {
  const bytes = Buffer.alloc(26);
  bytes.write('BM', 0, 'latin1');
  bytes.writeUInt32LE(40, 14);
  bytes.writeInt32LE(width, 18);
  bytes.writeInt32LE(height, 22);
  return bytes;
}

/** Headers of each format claiming width × height, followed by 1 kB of garbage. */
function claimedSize(width: number, height: number): Record<Exclude<ImageFormat, 'HEIC'>, Buffer> {
  const next = lcg(99);
  const garbage = Buffer.from(Array.from({ length: 1024 }, () => Math.floor(next() * 256)));
  const png = encodePng({ width, height, bitDepth: 8, colorType: 2, rows: [] }).subarray(0, 33); // signature, IHDR
  const jpeg = encodeFlatJpeg(8, 8, 3, () => 128);
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  jpeg.writeUInt16BE(height, sof + 5);
  jpeg.writeUInt16BE(width, sof + 7);
  const gif = Buffer.alloc(10);
  gif.write('GIF89a', 0, 'latin1');
  gif.writeUInt16LE(width, 6);
  gif.writeUInt16LE(height, 8);
  const withGarbage = (head: Uint8Array) => Buffer.concat([head, garbage]);
  return {
    PNG: withGarbage(png),
    JPEG: withGarbage(jpeg.subarray(0, jpeg.length - 2)),
    BMP: withGarbage(bmpStart(width, height)),
    GIF: withGarbage(gif),
    TIFF: withGarbage(tiffStart([[width, height]])),
    WebP: withGarbage(webpExtended(width, height)),
    AVIF: withGarbage(isobmff('avif', width, height)),
  };
}

/** An ISO base media box: its size, type and contents. */
const box = (type: string, ...contents: Buffer[]) => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + contents.reduce((n, c) => n + c.length, 0));
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...contents]);
};

/** The start of an AVIF or HEIC file (`brand`): ftyp, and meta with one image of width × height. */
function isobmff(brand: string, width: number, height: number): Buffer {
  const ispe = Buffer.alloc(12);
  ispe.writeUInt32BE(width, 4);
  ispe.writeUInt32BE(height, 8);
  const ftyp = box('ftyp', Buffer.from(`${brand}\0\0\0\0mif1${brand}`, 'latin1'));
  return Buffer.concat([ftyp, box('meta', Buffer.alloc(4), box('iprp', box('ipco', box('ispe', ispe))))]);
}

/** The start of an extended WebP (VP8X) of width × height, animated or not. */
function webpExtended(width: number, height: number, animated = false): Buffer {
  const head = Buffer.alloc(30);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(22 + 1024, 4);
  head.write('WEBPVP8X', 8, 'latin1');
  head.writeUInt32LE(10, 16);
  head.writeUInt8(animated ? 0x02 : 0, 20);
  head.writeUIntLE(width - 1, 24, 3);
  head.writeUIntLE(height - 1, 27, 3);
  return head;
}

/** Writes `bytes` to a new file in the temporary directory; returns its path. */
async function writeTemp(name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(tmp, name);
  await fs.promises.writeFile(file, bytes);
  return file;
}

/** readImage's result as plain numbers, disposing of the tensor. */
async function readPixels(file: string): Promise<{ shape: number[]; values: number[] }> {
  const image = await readImage(file);
  const result = { shape: image.shape, values: [...image.dataSync()] };
  image.dispose();
  return result;
}

describe('readImage: unusual and hostile files', () => {
  it('reads a 1×1 image as [1, 1, 3]', async () => {
    const file = await writeTemp('one.png', await jimpImage([7, 8, 9, 255], 1, 1).getBuffer('image/png'));
    assert.deepEqual(await readPixels(file), { shape: [1, 1, 3], values: [7, 8, 9] });
  });

  it('refuses a PNG header of width or height 0', async () => {
    for (const [width, height] of [
      [0, 4],
      [4, 0],
    ]) {
      const rows = new Array(height).fill(new Array(3 * width).fill(0));
      const png = encodePng({ width, height, bitDepth: 8, colorType: 2, rows });
      const file = await writeTemp(`empty-${width}x${height}.png`, png);
      await assertUnreadable(file, new RegExp(`: image has no pixels \\(${width}×${height} px in its PNG header\\)$`));
    }
  });

  it('readImageHeader reads format and size of files jimp writes', async () => {
    const image = jimpImage(testBitmap(7, 5, 3), 7, 5);
    const formats = ['PNG', 'JPEG', 'BMP', 'GIF', 'TIFF'] as const;
    for (const format of formats) {
      const mime = `image/${format.toLowerCase()}` as const;
      const header = readImageHeader(await image.getBuffer(mime));
      assert.deepEqual(header && [header.format, header.width, header.height, header.complete], [format, 7, 5, true]);
    }
    assert.equal(readImageHeader(Buffer.from('GIF')), null); // too short for a signature
  });

  it('readImageHeader: BMP stored top-down, big-endian TIFF, the largest TIFF page', () => {
    const bmp = bmpStart(30, -20); // negative height: rows stored top-down
    assert.deepEqual(readImageHeader(bmp), { format: 'BMP', width: 30, height: 20, complete: true });
    const pages: Array<[number, number]> = [
      [10, 10],
      [300, 200],
      [50, 50],
    ];
    for (const littleEndian of [true, false]) {
      const header = readImageHeader(tiffStart(pages, littleEndian));
      assert.deepEqual(header, { format: 'TIFF', width: 300, height: 200, complete: true });
    }
    const looped = tiffStart([[10, 10]]);
    looped.writeUInt32LE(8, 8 + 26); // the only IFD names itself as the next one
    assert.deepEqual(readImageHeader(looped), { format: 'TIFF', width: 10, height: 10, complete: true });
    assert.throws(() => readImageHeader(tiffStart(pages).subarray(0, 50)), /cut short or corrupt TIFF header/);
  });

  it('refuses 40000×40000 px in every format from the header, without decoding', async (t) => {
    const decoder = t.mock.method(Jimp, 'fromBuffer');
    for (const [format, bytes] of Object.entries(claimedSize(40000, 40000))) {
      const file = await writeTemp(`huge-${format}`, bytes);
      const start = performance.now();
      await assertUnreadable(file, /: 40000×40000 px is more than the limit of 25,000,000 pixels$/);
      const ms = performance.now() - start;
      assert.ok(ms < 500, `${format}: refused after ${ms.toFixed(0)} ms`);
      // The setting at fault travels with the error: the command words it as --max-input-pixels.
      await assert.rejects(readImage(file), { detail: { file, setting: 'maxInputPixels' } });
    }
    assert.equal(decoder.mock.callCount(), 0, 'jimp decoded nothing');
    assert.equal(DEFAULT_MAX_INPUT_PIXELS, 25_000_000);
  });

  it('WebP and AVIF: refuses a truncated file, an animation and HEIC, each in one line', async () => {
    const image = tf.tensor3d(
      Array.from({ length: 24 * 24 * 3 }, (_, i) => (i % 7) / 7),
      [24, 24, 3],
    );
    for (const [ext, format] of [
      ['webp', 'WebP'],
      ['avif', 'AVIF'],
    ] as const) {
      const whole = path.join(tmp, `whole.${ext}`);
      await writeImage(whole, image);
      const bytes = await fs.promises.readFile(whole);
      const cut = await writeTemp(`cut.${ext}`, bytes.subarray(0, bytes.length - 40));
      await assertUnreadable(cut, new RegExp(`: truncated ${format} file \\(it ends before its image data does\\)$`));
    }
    tf.dispose(image);
    const garbage = Buffer.alloc(1024, 7);
    const animated = await writeTemp('animated.webp', Buffer.concat([webpExtended(20, 10, true), garbage]));
    await assertUnreadable(animated, /: animated WebP is not supported: save the frame you want as a still image$/);
    const sequence = await writeTemp('sequence.avif', Buffer.concat([isobmff('avis', 20, 10), box('mdat', garbage)]));
    await assertUnreadable(sequence, /: animated AVIF is not supported/);
    const heic = await writeTemp('photo.heic', Buffer.concat([isobmff('heic', 4032, 3024), box('mdat', garbage)]));
    assert.deepEqual(readImageHeader(await fs.promises.readFile(heic)), {
      format: 'HEIC',
      width: 4032,
      height: 3024,
      complete: true,
      animated: false,
    });
    await assertUnreadable(
      heic,
      /: HEIC is not supported: convert it to JPEG first \(heif-convert photo\.heic photo\.jpg/,
    );
    const riff = await writeTemp('sound.wav', Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVEfmt ', 'latin1'), garbage]));
    await assertUnreadable(riff, /: not an image \(expected PNG, JPEG, BMP, GIF, TIFF, WebP or AVIF\)$/);
  });

  it('maxInputPixels is an inclusive limit that can be lowered and raised', async () => {
    const file = await writeTemp('20x20.png', await jimpImage(testBitmap(20, 20, 4), 20, 20).getBuffer('image/png'));
    await assertUnreadable(file, /: 20×20 px is more than the limit of 399 pixels/, { maxInputPixels: 399 });
    const image = await readImage(file, 'image', { maxInputPixels: 400 });
    assert.deepEqual(image.shape, [20, 20, 3]);
    image.dispose();
    // Raised: the refusal now comes from the decoder (there is only garbage after the header).
    const huge = await writeTemp('huge-raised.png', claimedSize(40000, 40000).PNG);
    await assertUnreadable(huge, /: truncated PNG file \(/, { maxInputPixels: 40000 * 40000 });
    await assert.rejects(readImage(file, 'image', { maxInputPixels: 0 }), /maxInputPixels must be positive/);
  });

  const [GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA] = [0, 2, 3, 4, 6]; // PNG colour types
  const palette = pngChunk('PLTE', [255, 0, 0, 0, 255, 0, 10, 20, 30]);
  // [name, PNG, expected RGB values]; 16-bit samples v read as round(v / 257).
  const pngCases: Array<[string, PngSpec, number[]]> = [
    [
      'gray, 1 bit',
      { width: 3, bitDepth: 1, colorType: GRAY, rows: [[0b10100000]] },
      [255, 255, 255, 0, 0, 0, 255, 255, 255],
    ],
    ['gray, 4 bits', { width: 2, bitDepth: 4, colorType: GRAY, rows: [[0x5f]] }, [85, 85, 85, 255, 255, 255]],
    [
      'gray, 8 bits, 2 rows',
      {
        width: 2,
        bitDepth: 8,
        colorType: GRAY,
        rows: [
          [0, 90],
          [200, 255],
        ],
      },
      [0, 0, 0, 90, 90, 90, 200, 200, 200, 255, 255, 255],
    ],
    [
      'gray, 16 bits',
      { width: 3, bitDepth: 16, colorType: GRAY, rows: [be16([0x1234, 0x8080, 0xffff])] },
      [18, 18, 18, 128, 128, 128, 255, 255, 255],
    ],
    [
      'gray with a tRNS colour (transparent: white)',
      { width: 2, bitDepth: 8, colorType: GRAY, rows: [[40, 200]], chunks: [pngChunk('tRNS', [0, 40])] },
      [255, 255, 255, 200, 200, 200],
    ],
    [
      'gray + alpha, 8 bits',
      { width: 2, bitDepth: 8, colorType: GRAY_ALPHA, rows: [[100, 255, 50, 0]] },
      [100, 100, 100, 255, 255, 255],
    ],
    [
      'RGB, 16 bits',
      { width: 2, bitDepth: 16, colorType: RGB, rows: [be16([0x1234, 0x8080, 0xffff, 0xff00, 0x0101, 0])] },
      [18, 128, 255, 254, 1, 0],
    ],
    // alpha 0x8080 is 128/255: 255 * a + 255 * (1 - a) = 255 and 0 * a + 255 * (1 - a) = 127
    [
      'RGBA, 16 bits',
      { width: 1, bitDepth: 16, colorType: RGBA, rows: [be16([0xffff, 0, 0, 0x8080])] },
      [255, 127, 127],
    ],
    [
      'palette, 8 bits',
      { width: 4, bitDepth: 8, colorType: PALETTE, rows: [[2, 0, 1, 2]], chunks: [palette] },
      [10, 20, 30, 255, 0, 0, 0, 255, 0, 10, 20, 30],
    ],
    [
      'palette, 2 bits',
      { width: 3, bitDepth: 2, colorType: PALETTE, rows: [[0b10000100]], chunks: [palette] },
      [10, 20, 30, 255, 0, 0, 0, 255, 0],
    ],
    [
      'palette with tRNS alpha',
      { width: 2, bitDepth: 8, colorType: PALETTE, rows: [[0, 1]], chunks: [palette, pngChunk('tRNS', [255, 0])] },
      [255, 0, 0, 255, 255, 255],
    ],
  ];
  for (const [name, spec, expected] of pngCases) {
    it(`reads a PNG: ${name}`, async () => {
      const file = await writeTemp(`${name.replace(/\W+/g, '-')}.png`, encodePng(spec));
      const { shape, values } = await readPixels(file);
      assert.deepEqual(shape, [spec.rows.length, spec.width, 3]);
      assertClose(values, expected, 1e-3, name);
    });
  }

  it('reads a grayscale JPEG', async () => {
    const file = await writeTemp(
      'gray.jpg',
      encodeFlatJpeg(16, 8, 1, (bx) => [77, 200][bx]),
    );
    const { shape, values } = await readPixels(file);
    assert.deepEqual(shape, [8, 16, 3]);
    assert.deepEqual(
      [values.slice(0, 3), values.slice(-3)],
      [
        [77, 77, 77],
        [200, 200, 200],
      ],
    );
  });

  it('converts an Adobe CMYK or YCCK JPEG to RGB; refuses 4 components without the Adobe marker', async () => {
    // Adobe stores CMYK inverted (s = 255 - ink), so R = (1 - C)(1 - K) * 255 = sC * sK / 255.
    const stored = [
      [255, 128, 0, 200],
      [40, 255, 255, 255],
    ];
    const cmyk = await writeTemp(
      'cmyk.jpg',
      encodeFlatJpeg(16, 8, 4, (bx, _, c) => stored[bx][c], 0),
    );
    const expected = stored.map(([c, m, y, k]) => [c, m, y].map((v) => (v * k) / 255));
    const { values } = await readPixels(cmyk);
    assertClose([...values.slice(0, 3), ...values.slice(-3)], expected.flat(), 1, 'CMYK');
    // YCCK: YCbCr gives the inverted CMY; with Cb = Cr = 128 that is Y, so R = G = B = (255 - Y) * sK / 255.
    const ycck = await writeTemp(
      'ycck.jpg',
      encodeFlatJpeg(8, 8, 4, (_, __, c) => [55, 128, 128, 200][c], 2),
    );
    assertClose((await readPixels(ycck)).values.slice(0, 3), new Array(3).fill((200 * 200) / 255), 1, 'YCCK');
    const plain = await writeTemp(
      'cmyk-plain.jpg',
      encodeFlatJpeg(8, 8, 4, () => 128),
    );
    await assertUnreadable(plain, /: CMYK JPEG without an Adobe marker is not supported; convert it to RGB$/);
  });

  it('applies the EXIF orientation of a JPEG', async () => {
    // 24×16: a red block at the top left, grey elsewhere. Rotated, the image is 16×24.
    const w = 24;
    const topLeft = (p: number) => p % w < 8 && p < 8 * w;
    const rgba = Array.from({ length: w * 16 }, (_, p) =>
      topLeft(p) ? [255, 0, 0, 255] : [128, 128, 128, 255],
    ).flat();
    const jpeg = await jimpImage(rgba, w, 16).getBuffer('image/jpeg');
    // Orientation: [width, height] after rotation and the [row, column] of the red 8×8 block.
    const cases: Array<[number, [number, number], [number, number]]> = [
      [1, [24, 16], [0, 0]],
      [3, [24, 16], [1, 2]], // 180°
      [6, [16, 24], [0, 1]], // 90° clockwise: the left edge becomes the top
      [8, [16, 24], [2, 0]], // 90° counter-clockwise: the left edge becomes the bottom
    ];
    for (const [orientation, [width, height], [redRow, redColumn]] of cases) {
      const file = await writeTemp(`exif-${orientation}.jpg`, withOrientation(jpeg, orientation));
      const { shape, values } = await readPixels(file);
      assert.deepEqual(shape, [height, width, 3], `orientation ${orientation}`);
      for (let row = 0; row < height / 8; row++) {
        for (let column = 0; column < width / 8; column++) {
          const centre = ((8 * row + 4) * width + 8 * column + 4) * 3;
          const red = row === redRow && column === redColumn;
          const what = `orientation ${orientation}, block ${row}, ${column}`;
          assertClose(values.slice(centre, centre + 3), red ? [255, 0, 0] : [128, 128, 128], 8, what);
        }
      }
    }
  });
});

describe('checkOutputPath', () => {
  it('accepts a writable path with a known extension', () => {
    for (const ext of IMAGE_EXTENSIONS) checkOutputPath(path.join(tmp, `ok.${ext}`));
    checkOutputPath(path.join(tmp, 'UPPER.PNG'));
  });

  it('rejects unknown extensions, listing the known ones', () => {
    for (const name of ['out.gif', 'out', 'out.png.txt']) {
      assert.throws(
        () => checkOutputPath(path.join(tmp, name)),
        (err: unknown) => err instanceof InputError && err.message.includes(name) && /\.png, \.jpg/.test(err.message),
      );
    }
  });

  it('rejects a missing directory, a file as directory, and a directory as the file', async () => {
    assert.throws(() => checkOutputPath(path.join(tmp, 'no-such-dir', 'out.png')), /does not exist/);
    const file = path.join(tmp, 'plain.txt');
    await fs.promises.writeFile(file, 'x');
    assert.throws(() => checkOutputPath(path.join(file, 'out.png')), InputError);
    const dir = path.join(tmp, 'dir.png');
    await fs.promises.mkdir(dir, { recursive: true });
    assert.throws(() => checkOutputPath(dir), InputError);
  });

  it(
    'rejects a directory that is not writable',
    { skip: process.getuid?.() === 0 && 'root may write anywhere' },
    async () => {
      const dir = await fs.promises.mkdtemp(path.join(tmp, 'ro-'));
      await fs.promises.chmod(dir, 0o555);
      try {
        assert.throws(() => checkOutputPath(path.join(dir, 'out.png')), /not writable/);
      } finally {
        await fs.promises.chmod(dir, 0o755);
      }
    },
  );
});
