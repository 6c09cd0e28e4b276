/**
 * Image file headers, read without decoding: format, size and the limits checked before any
 * decoding (no TensorFlow.js here, so the command can show its help without loading it).
 */
/** Output formats by file extension (lower case, no dot): jimp writes the first six, codecs.ts WebP and AVIF. */
export const MIME_BY_EXTENSION = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  webp: 'image/webp',
  avif: 'image/avif',
} as const;
export type Extension = keyof typeof MIME_BY_EXTENSION;

export const IMAGE_EXTENSIONS: readonly string[] = Object.keys(MIME_BY_EXTENSION);

/**
 * The default of readImage's `maxInputPixels`: 25 megapixels (5000×5000, a 24-MP camera's photo).
 * The run only works on the image shrunk to a few hundred pixels, but the decoders hold it whole:
 * jpeg-js takes up to 28 bytes a pixel and 0.2 s a megapixel on a 2-core machine. A worst-case
 * 25-MP JPEG (noise at quality 90) reads in about 6 s at under 1 GB, a PNG in under 2 s
 * (`node bench/read-image.mjs`, README "Input images").
 */
export const DEFAULT_MAX_INPUT_PIXELS = 25_000_000;

export type ImageFormat = 'PNG' | 'JPEG' | 'BMP' | 'GIF' | 'TIFF' | 'WebP' | 'AVIF' | 'HEIC';

/** What the first bytes of an image file say, read without decoding it. */
export interface ImageHeader {
  format: ImageFormat;
  /** For a multi-page TIFF, those of the largest page (jimp decodes every page). */
  width: number;
  height: number;
  /**
   * False if the file was cut short: it lacks its format's end (PNG IEND, JPEG EOI, the GIF
   * trailer), or its data ends before the header says it does (BMP pixels, TIFF strips or tiles).
   */
  complete: boolean;
  /** Bytes of image data in the file, and the fewest its size needs, when the format bounds them. */
  body?: { bytes: number; least: number };
  /** PNG only: the bytes its image data inflates to, filter bytes included. */
  rawBytes?: number;
  /** JPEG only: the number of colour components (1 gray, 3 YCbCr, 4 CMYK or YCCK). */
  components?: number;
  /** JPEG only: whether it has an Adobe APP14 marker, which says how 4 components are stored. */
  adobe?: boolean;
  /** WebP and AVIF: an animation (refused: which frame would be the photo?). */
  animated?: boolean;
}

/** A format's header reader: null if the header is corrupt; RangeError if it is cut short. */
type HeaderReader = (bytes: Buffer) => ImageHeader | null;

/** Whether the bytes start with one of these signatures (hex). */
const starts =
  (...signatures: string[]) =>
  (bytes: Buffer) =>
    signatures.some((hex) => bytes.subarray(0, hex.length / 2).equals(Buffer.from(hex, 'hex')));

/** An ISO base media file (AVIF, HEIC) whose ftyp box names one of these brands (major or compatible). */
const branded =
  (...brands: string[]) =>
  (bytes: Buffer) =>
    bytes.length >= 12 &&
    bytes.toString('latin1', 4, 8) === 'ftyp' &&
    ftypBrands(bytes).some((b) => brands.includes(b));

/** Each format's test of the first bytes and its header reader; AVIF before HEIC (an AVIF lists mif1 too). */
const HEADER_READERS: ReadonlyArray<[ImageFormat, (bytes: Buffer) => boolean, HeaderReader]> = [
  ['PNG', starts('89504e470d0a1a0a'), pngHeader],
  ['JPEG', starts('ffd8ff'), jpegHeader],
  ['BMP', starts('424d'), bmpHeader], // "BM"
  ['GIF', starts('47494638'), gifHeader], // "GIF8": GIF87a and GIF89a
  ['TIFF', starts('49492a00', '4d4d002a'), tiffHeader], // "II*\0" little-endian, "MM\0*" big-endian
  ['WebP', (bytes) => starts('52494646')(bytes) && bytes.toString('latin1', 8, 12) === 'WEBP', webpHeader], // RIFF….WEBP
  ['AVIF', branded('avif', 'avis'), (bytes) => isobmffHeader(bytes, 'AVIF')],
  [
    'HEIC',
    branded('heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'),
    (bytes) => isobmffHeader(bytes, 'HEIC'),
  ],
];

/** "PNG, JPEG, BMP, GIF, TIFF, WebP or AVIF", for messages: what is read (HEIC is recognised, to be refused). */
export const FORMAT_LIST = HEADER_READERS.map(([format]) => format)
  .filter((format) => format !== 'HEIC')
  .join(', ')
  .replace(/, (\w+)$/, ' or $1');

/**
 * Format and size from the header of an image file, without decoding it; null if the bytes
 * start with none of the known signatures. Throws an Error if the header is cut short or corrupt.
 */
export function readImageHeader(bytes: Buffer): ImageHeader | null {
  for (const [format, matches, read] of HEADER_READERS) {
    if (!matches(bytes)) continue;
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
  const [width, height] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
  const { data, complete } = pngChunks(bytes);
  const rawBytes = pngRawBytes(width, height, bytes.readUInt8(24), bytes.readUInt8(25), bytes.readUInt8(28));
  // Deflate makes at most 1032 bytes of 1 (258-byte matches in 2 bits).
  const body = { bytes: data.reduce((n, chunk) => n + chunk.length, 0), least: Math.ceil(rawBytes / 1032) };
  return { format: 'PNG', width, height, complete, body, rawBytes };
}

/** The IDAT data of a PNG, and whether its chunks run whole up to IEND. */
export function pngChunks(bytes: Buffer): { data: Buffer[]; complete: boolean } {
  const data: Buffer[] = [];
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (at + 12 + length > bytes.length) break; // cut inside this chunk
    if (type === 'IDAT') data.push(bytes.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') return { data, complete: true };
    at += 12 + length;
  }
  return { data, complete: false };
}

/** The inflated size of a PNG's image data: each row (of each Adam7 pass) is a filter byte and its pixels. */
function pngRawBytes(width: number, height: number, depth: number, colorType: number, interlace: number): number {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType] ?? 1;
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * channels * depth) / 8)) : 0);
  if (interlace !== 1) return rows(width, height);
  const passes = [
    [0, 8, 0, 8],
    [4, 8, 0, 8],
    [0, 4, 4, 8],
    [2, 4, 0, 4],
    [0, 2, 2, 4],
    [1, 2, 0, 2],
    [0, 1, 1, 2],
  ];
  return passes.reduce(
    (n, [x0, dx, y0, dy]) => n + rows(Math.ceil((width - x0!) / dx!), Math.ceil((height - y0!) / dy!)),
    0,
  );
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
  let frame: { width: number; height: number; components: number; blocks: number } | null = null;
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
      frame = { width, height, components: bytes.readUInt8(offset + 9), blocks: 0 };
      // Huffman-coded frames (not C9..CF, arithmetic) spend at least a bit on every 8×8 block.
      if (marker < 0xc9) frame.blocks = jpegBlocks(bytes, offset, width, height);
    }
    if (marker === 0xee && bytes.toString('latin1', offset + 4, offset + 9) === 'Adobe') adobe = true;
    offset += 2 + length;
  }
  if (frame === null) return null; // no frame header before the image data
  // EOI cannot occur inside the compressed data (0xFF bytes there are escaped).
  const complete = bytes.lastIndexOf(Buffer.from([0xff, 0xd9])) > offset;
  const { blocks, ...size } = frame;
  const body = { bytes: bytes.length - offset, least: Math.ceil(blocks / 8) };
  return { format: 'JPEG', ...size, adobe, complete, body };
}

/** The 8×8 blocks of every component of a JPEG frame (SOF at `at`), from their sampling factors. */
function jpegBlocks(bytes: Buffer, at: number, width: number, height: number): number {
  const count = bytes.readUInt8(at + 9);
  const factors = Array.from({ length: count }, (_, i) => bytes.readUInt8(at + 11 + 3 * i));
  const [hMax, vMax] = [Math.max(...factors.map((f) => f >> 4)), Math.max(...factors.map((f) => f & 15))];
  const side = (n: number, f: number, max: number) => Math.ceil(Math.ceil((n * f) / max) / 8);
  return factors.reduce((n, f) => n + side(width, f >> 4, hMax) * side(height, f & 15, vMax), 0);
}

/** BMP: the info header after the 14-byte file header; OS/2's 12-byte version has 16-bit sizes. */
function bmpHeader(bytes: Buffer): ImageHeader {
  const os2 = bytes.readUInt32LE(14) === 12;
  const width = os2 ? bytes.readUInt16LE(18) : bytes.readInt32LE(18);
  const height = os2 ? bytes.readUInt16LE(20) : Math.abs(bytes.readInt32LE(22)); // negative: rows top-down
  if (bytes.length < 34) return { format: 'BMP', width, height, complete: true }; // no pixels to check: the decoder says
  const bits = bytes.readUInt16LE(os2 ? 24 : 28);
  const compression = os2 ? 0 : bytes.readUInt32LE(30);
  // Uncompressed (or bit fields): rows of whole 4-byte words; run-length data may end early.
  const least = compression === 0 || compression === 3 ? Math.ceil((width * bits) / 32) * 4 * height : 0;
  const body = { bytes: bytes.length - bytes.readUInt32LE(10), least };
  return { format: 'BMP', width, height, complete: body.bytes >= least, body };
}

/** GIF: the logical screen size, which is what jimp decodes the first frame into; 0x3B ends the file. */
function gifHeader(bytes: Buffer): ImageHeader {
  const complete = bytes.readUInt8(bytes.length - 1) === 0x3b;
  return { format: 'GIF', width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8), complete };
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
  let end = 0; // where the last strip or tile ends
  const values = (type: number, count: number, entry: number) => {
    const size = type === 3 ? 2 : 4;
    const at = count * size <= 4 ? entry + 8 : u32(entry + 8);
    return Array.from({ length: count }, (_, i) => (size === 2 ? u16(at + 2 * i) : u32(at + 4 * i)));
  };
  let ifd = u32(4);
  while (ifd !== 0 && !seen.has(ifd)) {
    seen.add(ifd);
    const count = u16(ifd);
    const page = { width: 0, height: 0, offsets: [] as number[], counts: [] as number[] };
    for (let entry = ifd + 2; entry < ifd + 2 + 12 * count; entry += 12) {
      const [tag, type] = [u16(entry), u16(entry + 2)];
      const value = type === 3 ? u16(entry + 8) : type === 4 ? u32(entry + 8) : 0;
      if (tag === 256) page.width = value;
      if (tag === 257) page.height = value;
      // StripOffsets / TileOffsets with StripByteCounts / TileByteCounts: where the data lies.
      if (tag === 273 || tag === 324) page.offsets = values(type, u32(entry + 4), entry);
      if (tag === 279 || tag === 325) page.counts = values(type, u32(entry + 4), entry);
    }
    page.offsets.forEach((at, i) => (end = Math.max(end, at + (page.counts[i] ?? 0))));
    if (page.width * page.height >= largest.width * largest.height)
      Object.assign(largest, { width: page.width, height: page.height });
    ifd = u32(ifd + 2 + 12 * count); // the next page's IFD, 0 after the last
  }
  return { format: 'TIFF', ...largest, complete: end <= bytes.length };
}

/** Why an image of this header is refused before decoding, or null if it may be decoded. */

/**
 * WebP: a RIFF file whose first chunk is VP8 (lossy: the frame's 14-bit sizes after its start
 * code), VP8L (lossless: 14-bit sizes minus one after its signature byte) or VP8X (extended: a
 * flags byte, animation among them, and the 24-bit canvas size minus one). Whole when the RIFF
 * size the file declares is there.
 */
function webpHeader(bytes: Buffer): ImageHeader | null {
  const complete = bytes.length >= 8 + bytes.readUInt32LE(4);
  const chunk = bytes.toString('latin1', 12, 16);
  const u24 = (at: number) => bytes.readUIntLE(at, 3);
  if (chunk === 'VP8 ') {
    if (!bytes.subarray(23, 26).equals(Buffer.from('9d012a', 'hex'))) return null;
    return {
      format: 'WebP',
      width: bytes.readUInt16LE(26) & 0x3fff,
      height: bytes.readUInt16LE(28) & 0x3fff,
      complete,
    };
  }
  if (chunk === 'VP8L') {
    if (bytes.readUInt8(20) !== 0x2f) return null;
    const bits = bytes.readUInt32LE(21);
    return { format: 'WebP', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, complete };
  }
  if (chunk === 'VP8X') {
    const animated = (bytes.readUInt8(20) & 0x02) !== 0;
    return { format: 'WebP', width: u24(24) + 1, height: u24(27) + 1, complete, animated };
  }
  return null;
}

/** The brands of an ISO base media file's ftyp box: the major one and the compatible ones. */
function ftypBrands(bytes: Buffer): string[] {
  const size = Math.min(bytes.readUInt32BE(0), bytes.length);
  const brands = [bytes.toString('latin1', 8, 12)];
  for (let at = 16; at + 4 <= size; at += 4) brands.push(bytes.toString('latin1', at, at + 4));
  return brands;
}

/** The boxes of an ISO base media file between `from` and `to`: type, start of contents, end. */
function* boxes(bytes: Buffer, from: number, to: number): Generator<{ type: string; at: number; end: number }> {
  for (let at = from; at + 8 <= to;) {
    let size = bytes.readUInt32BE(at);
    let header = 8;
    if (size === 1) {
      size = Number(bytes.readBigUInt64BE(at + 8)); // a 64-bit size follows the type
      header = 16;
    } else if (size === 0) size = to - at; // to the end
    if (size < header) return; // not a box: what came before is all there is
    yield { type: bytes.toString('latin1', at + 4, at + 8), at: at + header, end: at + size };
    at += size;
  }
}

/**
 * AVIF and HEIC (HEIF): the image size from the largest `ispe` property (meta → iprp → ipco; the
 * primary image's, thumbnails being smaller); whole when the top-level boxes run to the end of
 * the file and the media data is among them. An image sequence (brand avis, or msf1) is animated.
 */
function isobmffHeader(bytes: Buffer, format: 'AVIF' | 'HEIC'): ImageHeader | null {
  const top = [...boxes(bytes, 0, bytes.length)];
  const inside = (box: { at: number; end: number } | undefined, type: string, skip = 0) =>
    box ? [...boxes(bytes, box.at + skip, Math.min(box.end, bytes.length))].filter((b) => b.type === type) : [];
  const meta = top.find((b) => b.type === 'meta'); // a full box: version and flags first
  const ipco = inside(inside(meta, 'iprp', 4)[0], 'ipco')[0];
  let [width, height] = [0, 0];
  for (const ispe of inside(ipco, 'ispe')) {
    const [w, h] = [bytes.readUInt32BE(ispe.at + 4), bytes.readUInt32BE(ispe.at + 8)];
    if (w * h > width * height) [width, height] = [w, h];
  }
  if (!meta || width === 0) return null;
  const complete = top.at(-1)!.end === bytes.length && top.some((b) => b.type === 'mdat');
  const major = bytes.toString('latin1', 8, 12);
  return { format, width, height, complete, animated: major === 'avis' || major === 'msf1' };
}
