import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Jimp } from 'jimp';
import { CostHistory } from '../../src/cli/view/history.js';
import { plotPng, plotSvg } from '../../src/cli/view/plot.js';
import { cellOrigin, CELL, writeContactSheet } from '../../src/cli/view/sheet.js';
import type { StylizeProgress } from '../../src/core/stylize.js';
import { tempDir } from '../helpers.js';

/** A two-scale run's history: costs falling, the second scale starting higher. */
function history(): CostHistory {
  const h = new CostHistory();
  for (const [scale, size, from] of [
    [1, 64, 0],
    [2, 128, 10],
  ] as const) {
    for (let i = 0; i <= 10; i++) {
      const total = 1e9 / (i + 1) / scale;
      const e = {
        iteration: i,
        iterations: 10,
        costs: { total, content: total / 2, style: total / 3, variation: total / 100 },
        bestCost: total,
        evaluations: from + i + 1,
        elapsedMs: (from + i) * 100,
        scale: { index: scale, count: 2, size, tiles: 1 },
        run: { iteration: from + i, iterations: 20, evaluations: from + i + 1 },
      } satisfies StylizeProgress;
      h.add(e);
    }
  }
  return h;
}

describe('the cost plot', () => {
  it('is an SVG with its axes, four series over every point, log ticks and the scales marked', () => {
    const svg = plotSvg(history(), 'iteration', 600, 300);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="600" height="300"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.match(svg, /<g class="axes"/);
    for (const series of ['total', 'content', 'style', 'variation']) {
      const d = new RegExp(`class="series ${series}"[^>]* d="([^"]+)"`).exec(svg)?.[1] ?? '';
      assert.equal(d.split(/[ML]/).filter(Boolean).length, 22, `${series}: one point per event`);
    }
    assert.equal((svg.match(/<g class="scale">/g) ?? []).length, 2);
    assert.match(svg, /scale 2: 128 px/);
    // 1e6 … 1e9 on the log axis, the lowest cost being 1e9 / 11 / 2 / 100 ≈ 4.5e5.
    for (const tick of ['1e5', '1e6', '1e9']) assert.ok(svg.includes(`>${tick}</text>`), tick);
    assert.match(plotSvg(history(), 'seconds'), />seconds<\/text>/);
  });

  it('is a PNG of the asked size with the total drawn', async () => {
    const image = await Jimp.read(await plotPng(history(), 'iteration', 300, 200));
    assert.deepEqual([image.width, image.height], [300, 200]);
    let dark = 0;
    image.scan((x, y, i) => void (image.bitmap.data[i]! < 40 && image.bitmap.data[i + 2]! < 40 && dark++));
    assert.ok(dark > 100, `${dark} dark pixels`);
  });
});

describe('the contact sheet', () => {
  it('lays the results out in a grid of contents × styles with the inputs as headers', async () => {
    const dir = tempDir();
    const flat = async (name: string, rgb: number, w = 40, h = 30) => {
      const file = path.join(dir, name);
      await new Jimp({ width: w, height: h, color: rgb * 256 + 255 }).write(file as `${string}.png`);
      return file;
    };
    const [a, b] = [await flat('a.png', 0xff0000), await flat('b.png', 0x00ff00)];
    const s = await flat('s.png', 0x0000ff);
    const ra = await flat('ra.png', 0x808000);
    const sheetFile = path.join(dir, 'sheet.png');
    await writeContactSheet(sheetFile, [
      { content: a, styles: [s], output: ra },
      { content: b, styles: [s], output: null },
    ]);
    const sheet = await Jimp.read(sheetFile);
    const [w] = cellOrigin(0, 2);
    const [, h] = cellOrigin(3, 0);
    assert.deepEqual([sheet.width, sheet.height], [w, h], 'two columns (the header and one style), three rows');
    const colour = (row: number, column: number) => {
      const [x, y] = cellOrigin(row, column);
      return sheet.getPixelColor(x + CELL / 2, y + CELL / 2) >>> 8;
    };
    assert.equal(colour(0, 1), 0x0000ff, 'the style heads its column');
    assert.equal(colour(1, 0), 0xff0000, 'the content heads its row');
    assert.equal(colour(1, 1), 0x808000, 'the result in its cell');
    assert.equal(colour(2, 1), 0xcccccc, 'a job without a result: grey');
  });
});
