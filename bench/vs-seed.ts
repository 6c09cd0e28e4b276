// The default command against the seed preset, in the same run (bench/quality.ts --vs-seed):
// each pair of images at each size runs `nst stylize` twice as a user types it, once plain and
// once with --preset seed, and the table gives each one's wall time (the whole process: start-up,
// model, targets, optimisation, writing) and best cost, and the default's time as a fraction of
// the seed's; a run's cost is compared with the seed's only where both optimise the same objective.
// Outputs are kept in --keep DIR to be looked at side by side.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IMAGES, machine, table, WEIGHTS } from './common.js';
import { paintedOfFiles, type Painted } from './painted.js';
import { readabilityOfFiles } from './readability.js';

const BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bin/nst');

interface CommandRun {
  seconds: number;
  bestCost: number;
  iterations: number;
  evaluations: number;
  reason: string;
  backend: string;
  /** The resolved settings of its `start` event. */
  settings: Record<string, unknown>;
  /** Seconds per iteration at the last scale (the run's speed on the machine at that time). */
  lastScaleSecondsPerIteration: number;
  /** When the last scale's cost first reached `target`: seconds from the start of the process, and its iteration (null: never). */
  reachedAt: (target: number) => { seconds: number; iteration: number } | null;
}

/**
 * Runs `nst stylize … --json --step 1` to its end and reads its events; the wall time is the whole
 * process's, and each progress event is stamped when it arrives.
 */
function runCommand(args: string[]): Promise<CommandRun> {
  const start = performance.now();
  const child = spawn(process.execPath, [BIN, 'stylize', ...args, '--json', '--step', '1', '--weights', WEIGHTS], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const events: [number, Record<string, any>][] = [];
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop()!;
    const now = (performance.now() - start) / 1000;
    for (const line of lines) events.push([now, JSON.parse(line) as Record<string, any>]);
  });
  return new Promise((resolve, reject) => {
    child.on('close', (code) => {
      const seconds = (performance.now() - start) / 1000;
      const of = (name: string) => events.filter(([, e]) => e['event'] === name);
      const done = of('done')[0]?.[1];
      if (code !== 0 || !done) return reject(new Error(`nst stylize ${args.join(' ')} exited with ${code}`));
      const finalScale = of('progress').filter(([, e]) => e['scale'].index === e['scale'].count);
      const [first, last] = [finalScale[0]![1], finalScale[finalScale.length - 1]![1]];
      const reached = (target: number) => finalScale.find(([, e]) => e['costs'].total <= target);
      resolve({
        seconds,
        bestCost: done['bestCost'],
        iterations: done['iterations'],
        evaluations: done['evaluations'],
        reason: done['reason'],
        backend: of('start')[0]![1]['backend'],
        settings: of('start')[0]![1]['settings'],
        lastScaleSecondsPerIteration:
          (last['elapsedMs'] - first['elapsedMs']) / 1000 / Math.max(1, last['iteration'] - first['iteration']),
        reachedAt: (target) => {
          const hit = reached(target);
          return hit ? { seconds: hit[0], iteration: hit[1]['iteration'] } : null;
        },
      });
    });
  });
}

/** The settings that make the objective: costs compare only between runs that share them. */
const OBJECTIVE = ['alpha', 'beta', 'var', 'styleLoss', 'styleLayers', 'contentLayers', 'styleLayerWeights', 'pooling'];
const sameObjective = (a: CommandRun, b: CommandRun) =>
  OBJECTIVE.every((key) => JSON.stringify(a.settings[key]) === JSON.stringify(b.settings[key]));

/** A command's run, the readability of its output and how painted it is. */
type Pictured = CommandRun & Painted & { readability: number };

/**
 * Per pair and size: the seed preset (unless `withSeed` is false: picture rows only), the default
 * command, and the default command with each variant's flags added, in that order, one after
 * another; each output's readability of the photo (readability.ts) and how painted it is
 * (painted.ts).
 */
export async function defaultVsSeed(
  pairs: { content: string; style: string; sizes: number[] }[],
  variants: string[][],
  keep: string | null,
  outFile: string,
  withSeed = true,
): Promise<void> {
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'nst-vs-seed-'));
  fs.mkdirSync(dir, { recursive: true });
  const rows: string[][] = [];
  const results: Record<string, unknown>[] = [];
  let backend = '';
  for (const { content, style, sizes } of pairs) {
    for (const size of sizes) {
      const name = `${path.parse(content).name}-${path.parse(style).name}-${size}`;
      const photo = path.join(IMAGES, content);
      const inputs = [photo, path.join(IMAGES, style), '--size', String(size)];
      /** One command writing `file` in `dir`, and the readings of what it wrote. */
      const picture = async (file: string, flags: string[]): Promise<Pictured> => {
        const out = path.join(dir, file);
        const run = await runCommand([...inputs, '-o', out, ...flags]);
        const readings = await paintedOfFiles(out, photo, path.join(IMAGES, style));
        return { ...run, ...readings, readability: await readabilityOfFiles(out, photo) };
      };
      process.stderr.write(withSeed ? `${name}: seed preset…\n` : '');
      const seed = withSeed ? await picture(`${name}-seed.png`, ['--preset', 'seed']) : null;
      process.stderr.write(`${name}: default…\n`);
      const plain = await picture(`${name}-default.png`, []);
      backend = plain.backend;
      const others: [string, Pictured][] = [];
      for (const [k, flags] of variants.entries()) {
        process.stderr.write(`${name}: default ${flags.join(' ')}…\n`);
        others.push([flags.join(' '), await picture(`${name}-variant${k + 1}.png`, flags)]);
      }
      const runs: [string, Pictured][] = [...(seed ? [['--preset seed', seed] as [string, Pictured]] : [])];
      runs.push(['default', plain], ...others);
      for (const [label, run] of runs) {
        const comparable = seed && run !== seed && sameObjective(run, seed);
        const reached = comparable ? run.reachedAt(seed.bestCost) : null;
        rows.push([
          `${content} × ${style}`,
          String(size),
          label,
          run.seconds.toFixed(1),
          seed ? (run.seconds / seed.seconds).toFixed(3) : '—',
          run.bestCost.toExponential(4),
          `${run.iterations} / ${run.evaluations}`,
          run.reason,
          run.lastScaleSecondsPerIteration.toFixed(3),
          reached
            ? `${reached.seconds.toFixed(1)} (${(reached.seconds / seed!.seconds).toFixed(3)}), it ${reached.iteration}`
            : '—',
          run.readability.toFixed(3),
          run.palette.toFixed(3),
          run.texture.toFixed(3),
        ]);
      }
      const record = (run: Pictured) => ({
        ...run,
        reachedAt: undefined,
        reachedSeedCost: seed && sameObjective(run, seed) ? run.reachedAt(seed.bestCost) : null,
      });
      results.push({
        content,
        style,
        size,
        seed: seed ? { ...seed, reachedAt: undefined } : null,
        default: record(plain),
        variants: others.map(([flags, run]) => ({ flags, ...record(run) })),
      });
    }
  }
  console.log(`machine: ${machine()}; engine: ${backend}; outputs in ${dir}`);
  console.log(
    table(
      [
        'images',
        'size',
        'run',
        'wall s',
        '× seed',
        'best cost',
        'iterations / evaluations',
        'ended',
        's / it, last scale',
        "s to the seed's best (× seed), last scale's iteration",
        'readability',
        'palette',
        'texture',
      ],
      rows,
    ),
  );
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(
    outFile,
    JSON.stringify({ date: new Date().toISOString(), machine: machine(), backend, results }, null, 2) + '\n',
  );
  console.log(`written: ${outFile}`);
}
