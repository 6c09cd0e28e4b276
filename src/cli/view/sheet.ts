/**
 * The contact sheet of a batch (`nst batch --contact-sheet FILE`): one image, a grid with a row
 * per content image and a column per style (or blend of styles), the inputs as the row and column
 * headers, each cell the job's result (grey where the job has none, or an input cannot be
 * read), every picture labelled.
 */
import * as path from 'node:path';
import { Jimp, loadFont } from 'jimp';
import { SANS_12_BLACK } from 'jimp/fonts';
import { writeFileAtomic } from '../../io/atomic.js';

/** Side of a cell's picture, the label strip under it, and the gap between cells. */
export const CELL = 160;
export const LABEL = 18;
export const GAP = 8;

export interface SheetJob {
  content: string;
  styles: readonly string[];
  /** The result, or null when the job wrote none. */
  output: string | null;
}

/** Where cell (row, column) starts: row 0 and column 0 are the headers. */
export function cellOrigin(row: number, column: number): [number, number] {
  return [GAP + column * (CELL + GAP), GAP + row * (CELL + LABEL + GAP)];
}

type Font = Awaited<ReturnType<typeof loadFont>>;
type Picture = InstanceType<typeof Jimp>;

/** Draws `file` fitted into the cell at (row, column) with `label` under it. */
async function place(sheet: Picture, font: Font, row: number, column: number, file: string | null, label: string) {
  const [x, y] = cellOrigin(row, column);
  const read = file ? await Jimp.read(file).catch(() => null) : null; // an input that failed to decode: grey
  if (read) {
    const picture = read.scaleToFit({ w: CELL, h: CELL });
    sheet.composite(picture, x + (CELL - picture.width) / 2, y + (CELL - picture.height) / 2);
  } else {
    sheet.composite(new Jimp({ width: CELL, height: CELL, color: 0xccccccff }), x, y);
  }
  sheet.print({ font, x, y: y + CELL + 2, text: { text: label, alignmentX: 2 }, maxWidth: CELL });
}

export async function writeContactSheet(file: string, jobs: readonly SheetJob[]): Promise<void> {
  const contents = [...new Set(jobs.map((j) => j.content))];
  const blends = [...new Set(jobs.map((j) => j.styles.join('\n')))];
  const [width] = cellOrigin(0, blends.length + 1);
  const [, height] = cellOrigin(contents.length + 1, 0);
  const sheet = new Jimp({ width, height, color: 0xffffffff });
  const font = await loadFont(SANS_12_BLACK);
  const name = (f: string) => path.basename(f, path.extname(f));
  for (const [c, blend] of blends.entries()) {
    const styles = blend.split('\n');
    await place(sheet, font, 0, c + 1, styles[0]!, styles.map(name).join(' + '));
  }
  for (const [r, content] of contents.entries()) {
    await place(sheet, font, r + 1, 0, content, name(content));
    for (const [c, blend] of blends.entries()) {
      const job = jobs.find((j) => j.content === content && j.styles.join('\n') === blend);
      if (job) await place(sheet, font, r + 1, c + 1, job.output, job.output ? name(job.output) : 'failed');
    }
  }
  const mime = /\.jpe?g$/i.test(file) ? 'image/jpeg' : 'image/png';
  await writeFileAtomic(file, await sheet.getBuffer(mime), 'contact sheet');
}
