/**
 * Runs of the real command for the fault tests, queued when a test file loads and started
 * together when its tests start, two at a time: each run is mostly Node's start-up and the
 * loading of the weights, on one core. And the checks every refusal must pass.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IMAGES, nstAsync, tempDir, useWasm, type Run, type RunOptions } from '../helpers.js';
import { jimpImage } from '../images.js';

export const contentFile = path.join(IMAGES, 'tubingen.jpg'); // 1024×768
export const styleFile = path.join(IMAGES, 'starry_night.jpg');
/** The model cut after its first layer: quick to load, for runs where the layers do not matter. */
export const FIRST_LAYER_ONLY = ['--style-layers', 'block1_conv1', '--content-layers', 'block1_conv1'];

/** Every directory made here, removed at the end; each run writes into one of its own. */
const dirs: string[] = [];
export function newDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) {
    fs.chmodSync(dir, 0o755); // a read-only one
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A PNG (or JPEG) of `width` × `height` pixels, all `rgb`. */
export function flatImage(
  width: number,
  height: number,
  rgb: number[],
  mime: 'image/png' | 'image/jpeg' = 'image/png',
): Promise<Buffer> {
  return jimpImage(Array.from({ length: width * height }, () => [...rgb, 255]).flat(), width, height).getBuffer(mime);
}

/** A command line and the directory of its output, which holds nothing else. */
export interface Command {
  dir: string;
  output: string;
  args: string[];
}

/** `nst stylize` at 32 px, quietly, writing `out` (default out.png) in `dir` (default a new directory). */
export function stylize(
  extra: string[],
  { content = contentFile, style = styleFile, out = 'out.png', dir = '' } = {},
): Command {
  dir ||= newDir();
  const output = path.join(dir, out);
  return {
    dir,
    output,
    args: ['stylize', content, style, '-o', output, '--size', '32', '--iterations', '2', '-q', ...extra],
  };
}

const queue: { start: () => Promise<Run>; result?: Promise<Run> }[] = [];
const pool = { active: 0, waiting: [] as (() => void)[] };
async function run(start: () => Promise<Run>): Promise<Run> {
  if (pool.active >= 2) await new Promise<void>((resolve) => pool.waiting.push(resolve));
  pool.active++;
  try {
    return await start();
  } finally {
    pool.active--;
    pool.waiting.shift()?.();
  }
}

/** Queues a run of `nst args`; the function returned gives its result, once the tests have started. */
export function later(args: string[], options: RunOptions = {}): () => Promise<Run> {
  return queued(() => nstAsync(args, undefined, options));
}

/** Queues a run that `start` starts (a run followed on its stdout, say), in the same pool. */
export function queued(start: () => Promise<Run>): () => Promise<Run> {
  const entry: (typeof queue)[number] = { start };
  queue.push(entry);
  return () => entry.result!;
}
before(async () => {
  await useWasm();
  for (const entry of queue) entry.result = run(entry.start);
});

/** A refusal: exit code 2, one line `nst: …` on stderr that matches `message`, nothing written in `dir`. */
export function assertRefused(
  result: Run,
  message: RegExp,
  { dir }: Pick<Command, 'dir'>,
  leftInDir: string[] = [],
): void {
  assert.equal(result.code, 2, `exit code; stderr: ${result.stderr}`);
  assert.match(result.stderr, /^nst: [^\n]+\n$/, 'one line on stderr');
  assert.match(result.stderr, message);
  assert.deepEqual(fs.readdirSync(dir).sort(), [...leftInDir].sort(), 'nothing written, no temporary file');
}

/** A test per case: the command is refused with the message. */
export function refusals(
  cases: [name: string, command: Command, message: (command: Command) => RegExp, skip?: string | false][],
): void {
  for (const [name, command, message, skip] of cases) {
    const result = skip ? null : later(command.args);
    it(name, { skip }, async () => assertRefused(await result!(), message(command), command));
  }
}

/** A regular expression matching `text` literally. */
export const literal = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
