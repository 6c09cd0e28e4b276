import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { IMAGES, nst, nstAsync, tempDir, type Run } from '../helpers.js';

/** Debian's Chromium, which .ci/run installs; headless, on loopback only. */
const CHROMIUM = process.env['NST_CHROMIUM'] ?? '/usr/bin/chromium';
const launch = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });

/** Runs `nst args --preview --json`: the run, and the page's address once the run has said it. */
function previewRun(args: string[]): { address: Promise<string>; run: Promise<Run> } {
  let found: (url: string) => void = () => {};
  const address = new Promise<string>((resolve) => (found = resolve));
  const run = nstAsync([...args, '--preview', '--json'], (stdout) => {
    const match = /"event":"preview"[^\n]*"url":"([^"]+)"/.exec(stdout);
    if (match) found(match[1]!);
  });
  return { address, run };
}

const content = path.join(IMAGES, 'tubingen.jpg');
const style = path.join(IMAGES, 'starry_night.jpg');

describe('the preview page, in a real browser', () => {
  it('shows the image changing and the curve growing; Stop ends the run as Ctrl-C does', async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is needed (apt-get install chromium)`);
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const plot = path.join(dir, 'curve.svg');
    let url = '';
    let found: (url: string) => void = () => {};
    const address = new Promise<string>((resolve) => (found = resolve));
    const args = ['stylize', content, style, '-o', out, '--size', '64', '--iterations', '5000', '--converge', '0'];
    const run = nstAsync([...args, '--preview', '--plot', plot, '--json'], (stdout) => {
      const match = /"event":"preview"[^\n]*"url":"([^"]+)"/.exec(stdout);
      if (match && !url) found((url = match[1]!));
    });
    const browser = await launch();
    try {
      assert.match(await address, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await browser.newPage();
      await page.goto(url);
      const source = () => page.getAttribute('#image', 'src');
      // Browser-side expressions (strings: this file is compiled without the DOM's types).
      await page.waitForFunction(`(document.querySelector('#image').getAttribute('src') || '').includes('v=')`);
      const first = await source();
      const changed = `document.querySelector('#image').getAttribute('src') !== ${JSON.stringify(first)}`;
      await page.waitForFunction(changed, null, { timeout: 30_000 });
      const total = `(document.querySelector('#plot-iteration path.series.total')?.getAttribute('d') ?? '').length`;
      await page.waitForFunction(`${total} > 0`);
      const before = (await page.evaluate(total)) as number;
      await page.waitForFunction(`${total} > ${before}`, null, { timeout: 30_000 });
      assert.match((await page.textContent('#engine')) ?? '', /^backend: onnx/);
      assert.match((await page.textContent('#scale')) ?? '', /^1 \/ 1 \(64 px\)$/);
      // Only the page's own routes answer: nothing from the request reaches the file system.
      for (const route of ['../../../etc/passwd', 'image.png/../../package.json', 'thumb/../x.png'])
        assert.equal((await page.request.get(url + route)).status(), 404, route);
      // A malformed path is answered, not fatal; a POST from another site's page (no custom header) stops nothing.
      assert.equal((await page.request.get(url + '/')).status(), 404);
      assert.equal((await page.request.post(url + 'stop')).status(), 404);
      assert.equal((await page.request.get(url, { headers: { host: 'evil.example:80' } })).status(), 421);
      await page.click('#stop');
      const result = await run;
      assert.equal(result.code, 130, result.stderr);
      assert.ok(fs.statSync(out).size > 0, 'the best image is written');
      const done = result.stdout.split('\n').find((l) => l.includes('"event":"done"'))!;
      assert.equal(JSON.parse(done)['reason'], 'interrupted');
      // The plot written at the stop is an SVG document the browser parses, with its four series.
      await page.goto(`file://${plot}`);
      assert.equal(await page.$('parsererror'), null);
      assert.equal((await page.$$('path.series')).length, 4);
    } finally {
      await browser.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says which tile a tiled evaluation is at', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'out.png');
    const args = ['stylize', content, style, '-o', out, '--size', '96', '--scales', '1', '--tile-size', '80'];
    const { address, run } = previewRun([...args, '--iterations', '5000', '--converge', '0']);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(await address);
      // 96×72 px in two tiles of 80×72; each evaluation makes two passes over them.
      const tileShown = `/^1 \\/ 1 \\(96 px, 2 tiles: tile [1-4]\\/4\\)$/.test(document.querySelector('#scale').textContent)`;
      await page.waitForFunction(tileShown, null, { timeout: 60_000 });
      await page.click('#stop');
      assert.equal((await run).code, 130);
    } finally {
      await browser.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nst video: the frame under way and the finished ones as thumbnails; Stop ends it as Ctrl-C does', async () => {
    const dir = tempDir();
    const clip = path.join(dir, 'clip.mp4');
    const make = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=40x30:rate=4', '-frames:v', '6', clip];
    assert.equal(spawnSync('ffmpeg', make).status, 0, 'ffmpeg makes the clip');
    const args = ['video', clip, style, '-o', path.join(dir, 'out.mp4'), '--size', '32', '--iterations', '4'];
    const { address, run } = previewRun([...args, '--frame-iterations', '5000', '--converge', '0']);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(await address);
      await page.waitForFunction(
        `/^job 2\\/6: 000002\\.png × starry_night\\.jpg → 000002\\.png$/.test(document.querySelector('#title').textContent)`,
        null,
        {
          timeout: 60_000,
        },
      );
      await page.waitForFunction(`document.querySelectorAll('#jobs img').length === 1`);
      assert.equal(await page.getAttribute('#jobs img', 'title'), '000001.png');
      await page.waitForFunction(`(document.querySelector('#image').getAttribute('src') || '').includes('v=')`);
      await page.click('#stop');
      const result = await run;
      assert.equal(result.code, 130, result.stderr);
    } finally {
      await browser.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('binds to loopback unless told otherwise, and says so', () => {
    const run = nst(['stylize', content, style, '-o', '/tmp/x.png', '--preview', '0.0.0.0:0']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^nst: --preview 0\.0\.0\.0:0: 0\.0\.0\.0 is not this machine only; add --preview-public/);
    const plot = nst(['stylize', content, style, '-o', '/tmp/x.png', '--plot', '/tmp/curve.gif']);
    assert.equal(plot.code, 2);
    assert.match(plot.stderr, /^nst: --plot \/tmp\/curve\.gif: must end in \.svg or \.png\n$/);
  });
});
