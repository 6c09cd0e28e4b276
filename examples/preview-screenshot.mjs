#!/usr/bin/env node
// Remakes the README's picture of the preview page (docs/preview.png) from the demo images of
// make-images.mjs: a real run with --preview, photographed by Chromium after SECONDS (default 40).
//   node examples/preview-screenshot.mjs [out.png]      (needs Debian's chromium and the weights)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, '../docs/preview.png'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nst-screenshot-'));
const images = path.join(dir, 'images');
await new Promise((resolve) =>
  spawn(process.execPath, [path.join(here, 'make-images.mjs'), images]).on('close', resolve),
);
const args = [
  path.join(here, '../bin/nst'),
  'stylize',
  path.join(images, 'photos/house.png'),
  path.join(images, 'paintings/swirls.png'),
];
args.push('-o', path.join(dir, 'out.png'), '--size', '256', '--preview', '--json');
const run = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve) => {
  let text = '';
  run.stdout.on('data', (chunk) => {
    text += chunk;
    const match = /"event":"preview"[^\n]*"url":"([^"]+)"/.exec(text);
    if (match) resolve(match[1]);
  });
});
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
await page.goto(url);
await new Promise((resolve) => setTimeout(resolve, Number(process.env.SECONDS ?? 40) * 1000));
fs.mkdirSync(path.dirname(out), { recursive: true });
await page.screenshot({ path: out });
await page.click('#stop');
await new Promise((resolve) => run.on('close', resolve));
await browser.close();
fs.rmSync(dir, { recursive: true, force: true });
console.log(`written: ${out}`);
