#!/usr/bin/env node
// Draws a few demo images to try the examples on: two "photos" and two "paintings", drawn by
// code (no downloads, no licences), the same pixels on every run.
//   node examples/make-images.mjs [dir]      (default: examples/images)
// writes dir/photos/{landscape,house}.png and dir/paintings/{swirls,dots}.png.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Jimp } from 'jimp';

const dir = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'images');

/** Seeded pseudo-random numbers in [0, 1) (mulberry32), so that every run draws the same. */
function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);
const clamp01 = (t) => Math.min(1, Math.max(0, t));

/** Writes a width × height PNG whose pixel (x, y) is colour(x, y) = [r, g, b], 0..255. */
async function draw(file, width, height, colour) {
  const data = Buffer.alloc(width * height * 4, 255);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const rgb = colour(x, y);
      for (let c = 0; c < 3; c++) data[(y * width + x) * 4 + c] = Math.round(Math.min(255, Math.max(0, rgb[c])));
    }
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await Jimp.fromBitmap({ data, width, height }).write(file);
  console.log(`${file} (${width}×${height})`);
}

/** Photo: a sky fading to the horizon, a sun with a glow, two rows of hills, a little grain. */
function landscape(width, height) {
  const rand = random(1);
  const phases = [rand() * 6, rand() * 6, rand() * 6];
  const sun = { x: width * 0.7, y: height * 0.3, r: height * 0.1 };
  return (x, y) => {
    const u = x / width;
    let rgb = mix([70, 120, 200], [250, 210, 170], y / height);
    const d = Math.hypot(x - sun.x, y - sun.y);
    rgb = d < sun.r ? [255, 235, 150] : mix(rgb, [255, 220, 150], 0.6 * Math.exp(-(d - sun.r) / (height * 0.08)));
    const far = height * (0.55 + 0.06 * Math.sin(u * 7 + phases[0]) + 0.03 * Math.sin(u * 17 + phases[1]));
    const near = height * (0.72 + 0.08 * Math.sin(u * 4 + phases[2]));
    if (y > near) rgb = mix([70, 130, 50], [30, 80, 30], (y - near) / (height - near));
    else if (y > far) rgb = mix([90, 110, 140], [60, 100, 80], (y - far) / (near - far));
    const grain = (rand() - 0.5) * 16;
    return rgb.map((v) => v + grain);
  };
}

/** Photo: a brick house with a red roof, two windows and a door, on grass under a pale sky. */
function house(width, height) {
  const rand = random(2);
  const left = width * 0.2,
    right = width * 0.8,
    eaves = height * 0.45,
    ground = height * 0.8;
  const ridge = height * 0.2,
    middle = (left + right) / 2;
  const inRect = (x, y, x0, y0, x1, y1) => x >= x0 && x < x1 && y >= y0 && y < y1;
  const brick = Math.max(4, Math.round(width / 24));
  return (x, y) => {
    let rgb;
    if (y >= ground) rgb = [80, 150, 60];
    else if (y < eaves && y >= ridge && Math.abs(x - middle) < ((y - ridge) / (eaves - ridge)) * (right - left) * 0.6) {
      rgb = Math.floor(y / 5) % 2 ? [170, 40, 35] : [150, 30, 30]; // roof tiles
    } else if (inRect(x, y, left, eaves, right, ground)) {
      const row = Math.floor(y / brick);
      const mortar = y % brick === 0 || (x + (row % 2) * brick) % (2 * brick) === 0;
      rgb = mortar ? [200, 200, 190] : [180, 90, 60];
      const w = width * 0.12;
      for (const x0 of [left + width * 0.06, right - width * 0.06 - w]) {
        if (inRect(x, y, x0, eaves + height * 0.07, x0 + w, eaves + height * 0.07 + w)) rgb = [120, 170, 220];
      }
      if (inRect(x, y, middle - width * 0.06, ground - height * 0.2, middle + width * 0.06, ground)) rgb = [90, 60, 40];
    } else rgb = mix([160, 200, 235], [225, 235, 245], y / ground);
    const grain = (rand() - 0.5) * 12;
    return rgb.map((v) => v + grain);
  };
}

/** Painting: wavy strokes twisted around a few whirls, in night blues and yellows. */
function swirls(width, height) {
  const rand = random(3);
  const whirls = Array.from({ length: 3 }, () => ({ x: rand(), y: rand(), turn: 2 + rand() * 3 }));
  const palette = [
    [20, 40, 110],
    [50, 100, 180],
    [240, 210, 80],
    [250, 240, 180],
  ];
  return (x, y) => {
    let u = x / width,
      v = y / height;
    for (const w of whirls) {
      // Turn the point around the whirl's centre, more the nearer it is.
      const a = w.turn * Math.exp(-Math.hypot(u - w.x, v - w.y) / 0.15);
      const [du, dv] = [u - w.x, v - w.y];
      [u, v] = [w.x + du * Math.cos(a) - dv * Math.sin(a), w.y + du * Math.sin(a) + dv * Math.cos(a)];
    }
    const t = clamp01(0.5 + 0.5 * Math.sin(u * 40 + Math.sin(v * 12) * 2) * Math.cos(v * 5));
    const k = Math.min(palette.length - 2, Math.floor(t * (palette.length - 1)));
    return mix(palette[k], palette[k + 1], t * (palette.length - 1) - k);
  };
}

/** Painting: bold diagonal stripes in strong colours with a grid of black-ringed dots on top. */
function dots(width, height) {
  const rand = random(4);
  const colours = [
    [230, 50, 40],
    [250, 200, 30],
    [30, 90, 200],
    [250, 250, 240],
    [20, 150, 90],
  ];
  const stripes = Array.from({ length: 16 }, () => colours[Math.floor(rand() * colours.length)]);
  const cell = Math.round(width / 6);
  return (x, y) => {
    const cx = (Math.floor(x / cell) + 0.5) * cell,
      cy = (Math.floor(y / cell) + 0.5) * cell;
    const d = Math.hypot(x - cx, y - cy);
    if (d < cell * 0.25) return colours[(Math.floor(x / cell) + Math.floor(y / cell)) % colours.length];
    if (d < cell * 0.32) return [15, 15, 15];
    return stripes[Math.floor((x + y) / (cell * 0.7)) % stripes.length];
  };
}

await draw(path.join(dir, 'photos', 'landscape.png'), 256, 192, landscape(256, 192));
await draw(path.join(dir, 'photos', 'house.png'), 160, 200, house(160, 200));
await draw(path.join(dir, 'paintings', 'swirls.png'), 192, 192, swirls(192, 192));
await draw(path.join(dir, 'paintings', 'dots.png'), 200, 150, dots(200, 150));
