/**
 * Image files made by the tests: small PNGs of every colour type and bit depth, JPEGs with an EXIF
 * orientation, and jimp images from RGBA bytes. Generated, never committed.
 */
import * as zlib from 'node:zlib';
import { Jimp } from 'jimp';

/**
 * A jimp image from RGBA bytes. The bytes are copied into a fresh Uint8Array because
 * Jimp.fromBitmap copies `data.buffer` whole, which for a small Buffer is Node's shared pool.
 */
export function jimpImage(rgba: ArrayLike<number>, width: number, height: number) {
  return Jimp.fromBitmap({ data: Uint8Array.from(rgba), width, height });
}

// Hand-made files, for the variants jimp does not write.

/** CRC-32 as PNG chunks use it (polynomial 0xEDB88320), bit by bit: slow but short. */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A PNG chunk: length, type, data, CRC of type and data. */
export function pngChunk(type: string, data: ArrayLike<number>): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), Buffer.from(Uint8Array.from(data))]);
  const chunk = Buffer.alloc(body.length + 8);
  chunk.writeUInt32BE(body.length - 4, 0);
  body.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(body), body.length + 4);
  return chunk;
}

export interface PngSpec {
  width: number;
  height?: number; // default: the number of rows
  bitDepth: number;
  colorType: number; // 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA
  rows: number[][]; // the packed bytes of each row
  chunks?: Buffer[]; // between IHDR and IDAT: PLTE, tRNS
}

/** A PNG file: IHDR, `chunks`, one IDAT with every row unfiltered, IEND. */
export function encodePng({ rows, width, height = rows.length, bitDepth, colorType, chunks = [] }: PngSpec): Buffer {
  const ihdr = Buffer.alloc(13); // compression, filter and interlace method 0
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const raw = Buffer.concat(rows.map((row) => Buffer.from([0, ...row]))); // filter type 0 (None)
  const signature = Buffer.from('89504e470d0a1a0a', 'hex');
  const idat = pngChunk('IDAT', zlib.deflateSync(raw));
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), ...chunks, idat, pngChunk('IEND', [])]);
}

/** 16-bit samples as big-endian bytes. */
export function be16(samples: number[]): number[] {
  return samples.flatMap((v) => [v >> 8, v & 255]);
}

/** A JPEG marker segment: marker, length (counting itself), body. */
export function jpegSegment(marker: number, body: ArrayLike<number>): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(marker, 0);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, Buffer.from(Uint8Array.from(body))]);
}

/** `jpeg` with an EXIF APP1 segment after SOI holding only the Orientation tag (0x0112). */
export function withOrientation(jpeg: Buffer, orientation: number): Buffer {
  // Big-endian TIFF header, IFD at 8 with 1 entry: tag 0x0112, SHORT, count 1, value; no next IFD.
  const tiff = [0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0];
  const app1 = jpegSegment(0xffe1, [...Buffer.from('Exif\0\0', 'latin1'), ...tiff]);
  return Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
}
