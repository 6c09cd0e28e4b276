/**
 * WebP and AVIF, through the Squoosh codecs (libwebp and libavif compiled to WebAssembly, the
 * @jsquash packages), each module compiled once on first use. jimp's own WebAssembly plugins wrap
 * the same codecs but fetch their .wasm by URL, which Node's fetch refuses for files; here the
 * file is read and handed to the codec.
 */
import * as fs from 'node:fs';
import webpDecode, { init as initWebpDecoder } from '@jsquash/webp/decode.js';
import webpEncode, { init as initWebpEncoder } from '@jsquash/webp/encode.js';
import avifDecode, { init as initAvifDecoder } from '@jsquash/avif/decode.js';
import avifEncode, { init as initAvifEncoder } from '@jsquash/avif/encode.js';

export type CodecMime = 'image/webp' | 'image/avif';
export const CODEC_MIMES: readonly string[] = ['image/webp', 'image/avif'];

/** An RGBA bitmap, 8 bits a channel. */
export interface Rgba {
  data: Buffer;
  width: number;
  height: number;
}

/** What is written: near-transparent for a picture, a fraction of PNG's size (WebP quality 0–100; AVIF's quantiser 0–63, lower is better). */
const WEBP_QUALITY = 90;
const AVIF_CQ_LEVEL = 24;

/** The codecs' image type (the DOM's ImageData, which Node's types lack). */
type ImageData = { data: Uint8ClampedArray; width: number; height: number };
/** WebAssembly's compile, which Node has and its types leave out without the DOM's. */
const { WebAssembly: wasmApi } = globalThis as unknown as {
  WebAssembly: { compile(bytes: Uint8Array): Promise<object> };
};
type Init = (module: object) => Promise<unknown>;
const loaded = new Map<string, Promise<unknown>>();

/** Compiles the codec's .wasm file (a path in its package) and initialises it, once. */
function load(init: Init, wasm: string): Promise<unknown> {
  const ready = loaded.get(wasm) ?? wasmApi.compile(fs.readFileSync(new URL(import.meta.resolve(wasm)))).then(init);
  loaded.set(wasm, ready);
  return ready;
}

/** The codec's own copy of the bytes: it takes an ArrayBuffer of exactly the file. */
const arrayBufferOf = (bytes: Buffer) => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);

export async function decodeCodec(mime: CodecMime, bytes: Buffer): Promise<Rgba> {
  const image =
    mime === 'image/webp'
      ? await load(initWebpDecoder as Init, '@jsquash/webp/codec/dec/webp_dec.wasm').then(() =>
          webpDecode(arrayBufferOf(bytes) as ArrayBuffer),
        )
      : await load(initAvifDecoder as Init, '@jsquash/avif/codec/dec/avif_dec.wasm').then(() =>
          avifDecode(arrayBufferOf(bytes) as ArrayBuffer),
        );
  if (!image) throw new Error('the codec could not decode it');
  const { data, width, height } = image as ImageData;
  return { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), width, height };
}

export async function encodeCodec(mime: CodecMime, { data, width, height }: Rgba): Promise<Buffer> {
  const image: ImageData = {
    data: new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength),
    width,
    height,
  };
  const encoded =
    mime === 'image/webp'
      ? await load(initWebpEncoder as Init, '@jsquash/webp/codec/enc/webp_enc_simd.wasm').then(() =>
          webpEncode(image as never, { quality: WEBP_QUALITY }),
        )
      : await load(initAvifEncoder as Init, '@jsquash/avif/codec/enc/avif_enc.wasm').then(() =>
          avifEncode(image as never, { cqLevel: AVIF_CQ_LEVEL }),
        );
  return Buffer.from(encoded);
}
