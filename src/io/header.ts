/**
 * Image file headers, read without decoding: format, size and the limits checked before any
 * decoding (no TensorFlow.js here, so the command can show its help without loading it).
 */
/** Output formats by file extension (lower case, no dot); jimp 1.6 can write all of them. */
export const MIME_BY_EXTENSION = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
} as const;
export type Extension = keyof typeof MIME_BY_EXTENSION;

export const IMAGE_EXTENSIONS: readonly string[] = Object.keys(MIME_BY_EXTENSION);

/**
 * The default of readImage's `maxInputPixels`: 100 megapixels (10000×10000), more than nearly
 * every camera makes. The model only sees the image scaled to a few hundred pixels, while
 * reading it costs memory per pixel: up to 28 bytes of jpeg-js work buffers, 4 for the RGBA
 * bitmap, 12 for the float32 RGB copy; at 100 MP that is already several GB. It is also the
 * limit jpeg-js applied to JPEGs on its own before.
 */
export const DEFAULT_MAX_INPUT_PIXELS = 100_000_000;

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
export const FORMAT_LIST = HEADER_READERS.map(([format]) => format)
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
