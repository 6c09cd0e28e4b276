import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { readRegularFile } from '../io/files.js';
import { parseRunFlags, type RunFlags } from './flags.js';
import type { Settings } from '../core/settings.js';
import type { Job } from '../jobs/job.js';

/** Files a directory given as an input contributes: the image formats `readImage` knows (HEIC: to say it is not read). */
const INPUT_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.gif', '.tif', '.tiff', '.webp', '.avif', '.heic']);

const isGlob = (text: string) => /[*?[]/.test(text);

/** A glob segment (`*`, `?`, `[abc]`) as a regular expression for one path component. */
function segmentPattern(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[' && segment.indexOf(']', i + 1) > i + 1) {
      const end = segment.indexOf(']', i + 1);
      source += `[${segment
        .slice(i + 1, end)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\')}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The files a glob matches (wildcards in any path component, no `**`), sorted. */
function globFiles(pattern: string): string[] {
  const absolute = path.isAbsolute(pattern);
  const segments = pattern.split(/[/\\]+/).filter((s, i) => s !== '' || (i === 0 && absolute));
  let candidates = [absolute ? path.sep : '.'];
  for (const [i, segment] of segments.entries()) {
    if (i === 0 && absolute) continue;
    const last = i === segments.length - 1;
    const next: string[] = [];
    for (const dir of candidates) {
      if (!isGlob(segment)) {
        next.push(path.join(dir, segment));
        continue;
      }
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      const re = segmentPattern(segment);
      for (const entry of entries) {
        if (re.test(entry.name) && (last ? entry.isFile() : entry.isDirectory())) next.push(path.join(dir, entry.name));
      }
    }
    candidates = next;
  }
  return candidates.filter((file) => fs.existsSync(file) && fs.statSync(file).isFile()).sort();
}

/**
 * The image files named by `--content` or `--style` values: files as they are, directories for
 * the images directly in them, globs (quoted, so the shell leaves them) for what they match. A
 * value that names nothing is an InputError.
 */
export function expandInputs(values: readonly string[], what: string): string[] {
  const files: string[] = [];
  for (const value of values) {
    let found: string[];
    if (isGlob(value) && !fs.existsSync(value)) found = globFiles(value);
    else if (!fs.existsSync(value)) throw new InputError(`${what} ${value}: no such file or directory`);
    else if (fs.statSync(value).isDirectory()) {
      found = fs
        .readdirSync(value)
        .filter((name) => INPUT_EXTENSIONS.has(path.extname(name).toLowerCase()))
        .sort()
        .map((name) => path.join(value, name))
        .filter((file) => fs.statSync(file).isFile());
    } else found = [value];
    if (found.length === 0) throw new InputError(`${what} ${value}: matches no image files`);
    files.push(...found);
  }
  return [...new Set(files)];
}

/** Rows of a CSV text (RFC 4180: quoted fields, "" for a quote, CRLF or LF), blank lines dropped. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const body = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') field += body[i++];
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && body[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (quoted) throw new Error('a quoted field is not closed');
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows.filter((r) => r.some((cell) => cell.trim() !== ''));
}

/** A manifest larger than this is not a list of jobs someone wrote. */
const MAX_MANIFEST_BYTES = 16 * 2 ** 20;

/** One job of a manifest: paths as written (relative to the manifest), option columns as text. */
export interface ManifestRow {
  content: string;
  styles: string[];
  output?: string;
  options: Record<string, string>;
}

/**
 * Reads a manifest: CSV with a header row, or JSON (an array of objects), with the fields
 * `content`, `style` (several separated by `;`, or a JSON array), optional `output`, and any run
 * flag by its long name (`alpha`, `style-scale`, …) as a per-job option.
 */
export function readManifest(file: string): ManifestRow[] {
  const fail = (problem: string) => new InputError(`manifest ${file}: ${problem}`);
  let text: string;
  try {
    text = readRegularFile(file, MAX_MANIFEST_BYTES, 'the 16 MiB a manifest may have').toString('utf8');
  } catch (err) {
    throw fail((err as Error).message);
  }
  let records: Record<string, unknown>[];
  // JSON by its content (an array or object), whatever the file is called; else CSV.
  if (path.extname(file).toLowerCase() === '.json' || /^\uFEFF?\s*[[{]/.test(text)) {
    try {
      records = JSON.parse(text.replace(/^\uFEFF/, '')) as Record<string, unknown>[];
    } catch (err) {
      throw fail(`not valid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(records) || !records.every((r) => r && typeof r === 'object' && !Array.isArray(r)))
      throw fail('expected an array of objects');
  } else {
    let rows: string[][];
    try {
      rows = parseCsv(text);
    } catch (err) {
      throw fail((err as Error).message);
    }
    const [header, ...body] = rows;
    if (!header) throw fail('empty');
    const names = header.map((h) => h.trim());
    records = body.map((cells, r) => {
      if (cells.length !== names.length)
        throw fail(`row ${r + 2} has ${cells.length} fields, the header ${names.length}`);
      return Object.fromEntries(names.map((name, i) => [name, cells[i]!.trim()]));
    });
  }
  if (records.length === 0) throw fail('no jobs');
  return records.map((record, r) => {
    const { content, style, output, ...options } = record;
    const where = `job ${r + 1}`;
    if (typeof content !== 'string' || content === '') throw fail(`${where} has no content`);
    const styles = Array.isArray(style)
      ? style.map(String)
      : typeof style === 'string'
        ? style
            .split(';')
            .map((s) => s.trim())
            .filter(Boolean)
        : [];
    if (styles.length === 0) throw fail(`${where} has no style`);
    if (output !== undefined && typeof output !== 'string') throw fail(`${where}: output must be a file name`);
    const text = Object.fromEntries(
      Object.entries(options).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v)]),
    );
    return { content, styles, output: output || undefined, options: text };
  });
}

/** An output name from the `--name` pattern: {content}, {style} (several joined by '+'), {index}. */
export function outputName(pattern: string, content: string, styles: readonly string[], index: number): string {
  const stem = (file: string) => path.basename(file, path.extname(file));
  const values: Record<string, string> = {
    content: stem(content),
    style: styles.map(stem).join('+'),
    index: String(index),
  };
  return pattern.replace(/\{([^}]*)\}/g, (whole, key: string) => {
    if (!Object.hasOwn(values, key))
      throw new InputError(`--name ${pattern}: unknown placeholder ${whole} (use {content}, {style}, {index})`);
    return values[key]!;
  });
}

/** Where an output named `name` goes: into `outDir`, unless the name is an absolute path. */
const outputPath = (outDir: string, name: string) => (path.isAbsolute(name) ? name : path.join(outDir, name));

export interface BatchPlan {
  contents: readonly string[];
  styles: readonly string[];
  manifest?: string;
  outDir: string;
  name: string;
  flags: RunFlags;
  /** The run flags given on the command line, under a manifest row's own. */
  given: Partial<Settings>;
}

/** The image files of a manifest row's options (init, masks), like its images, relative to the manifest. */
function filesFrom(base: string, options: Record<string, string>): Record<string, string> {
  const out = { ...options };
  const at = (file: string) => (file.trim() === '' ? file : path.resolve(base, file.trim()));
  if (out['init'] && !['content', 'noise', 'style'].includes(out['init'].trim())) out['init'] = at(out['init']);
  if (out['mask']) out['mask'] = at(out['mask']);
  if (out['style-masks']) out['style-masks'] = out['style-masks'].split(',').map(at).join(',');
  return out;
}

/**
 * The jobs of a batch: every content with every style (each style on its own), or the rows of the
 * manifest (with their own options over `flags`). Two jobs writing the same file is an InputError.
 */
export function planJobs(plan: BatchPlan): Job[] {
  let jobs: Job[];
  if (plan.manifest) {
    if (plan.contents.length > 0 || plan.styles.length > 0)
      throw new InputError('give either --manifest or --content and --style, not both');
    const base = path.dirname(plan.manifest);
    jobs = readManifest(plan.manifest).map((row, i) => {
      const content = path.resolve(base, row.content);
      const styles = row.styles.map((s) => path.resolve(base, s));
      let flags: RunFlags;
      try {
        flags = parseRunFlags(plan.given, filesFrom(base, row.options));
      } catch (error) {
        throw new InputError(`manifest ${plan.manifest}: job ${i + 1}: ${(error as Error).message}`);
      }
      return {
        content,
        styles,
        output: outputPath(plan.outDir, row.output ?? outputName(plan.name, content, styles, i + 1)),
        flags,
        index: i + 1,
      };
    });
  } else {
    if (plan.contents.length === 0 || plan.styles.length === 0)
      throw new InputError('nothing to do: give --content and --style (files, directories or globs), or --manifest');
    const contents = expandInputs(plan.contents, 'content');
    const styles = expandInputs(plan.styles, 'style');
    jobs = contents.flatMap((content) =>
      styles.map((style) => ({ content, styles: [style], output: '', flags: plan.flags })),
    );
    jobs.forEach((job, i) => {
      job.index = i + 1;
      job.output = outputPath(plan.outDir, outputName(plan.name, job.content, job.styles, i + 1));
    });
  }
  const seen = new Map<string, number>();
  for (const job of jobs) {
    const key = path.resolve(job.output);
    const other = seen.get(key);
    if (other !== undefined)
      throw new InputError(
        `jobs ${other} and ${job.index} would both write ${job.output} (use {index} in --name, or name the outputs in the manifest)`,
      );
    seen.set(key, job.index!);
  }
  return jobs;
}

/** The part of a batch one run takes: shard `index` (1-based) of `count`. */
export interface Shard {
  index: number;
  count: number;
}

const positiveInt = (text: string) => (/^\s*[1-9][0-9]*\s*$/.test(text) ? Number(text) : NaN);

/**
 * `--shard I/N`, or `--shard auto` with the job array's index from the environment: Kubernetes'
 * JOB_COMPLETION_INDEX (0-based), or Slurm's SLURM_ARRAY_TASK_ID counted from SLURM_ARRAY_TASK_MIN;
 * the count from `--shards N` (or Slurm's SLURM_ARRAY_TASK_COUNT). Null for no shard.
 */
export function resolveShard(
  shard: string | undefined,
  shards: string | undefined,
  env: NodeJS.ProcessEnv,
): Shard | null {
  if (shard === undefined) {
    if (shards !== undefined) throw new InputError('--shards needs --shard auto');
    return null;
  }
  if (shard.trim() !== 'auto') {
    const [i, n] = shard.split('/').map(positiveInt);
    if (i === undefined || n === undefined || shard.split('/').length !== 2 || !(i <= n))
      throw new InputError(`--shard ${shard}: must be I/N with 1 ≤ I ≤ N (2/3: the second of three), or auto`);
    if (shards !== undefined) throw new InputError('--shards goes with --shard auto (I/N names the count itself)');
    return { index: i, count: n };
  }
  const count = positiveInt(shards ?? env['SLURM_ARRAY_TASK_COUNT'] ?? '');
  if (Number.isNaN(count))
    throw new InputError(
      `--shard auto: give the number of shards with --shards N${shards === undefined ? '' : ` (not ${shards})`}`,
    );
  const from = (name: string, base: number) => {
    const value = Number(env[name]);
    if (!/^\s*[0-9]+\s*$/.test(env[name] ?? ''))
      throw new InputError(`--shard auto: ${name} is ${env[name]}, not an index`);
    const index = value - base + 1;
    if (index < 1 || index > count)
      throw new InputError(
        `--shard auto: ${name} ${env[name]} is shard ${index}, outside 1…${count} (--shards ${count})`,
      );
    return { index, count };
  };
  if (env['JOB_COMPLETION_INDEX'] !== undefined) return from('JOB_COMPLETION_INDEX', 0);
  if (env['SLURM_ARRAY_TASK_ID'] !== undefined)
    return from('SLURM_ARRAY_TASK_ID', Number(env['SLURM_ARRAY_TASK_MIN'] ?? 0));
  throw new InputError(
    '--shard auto: neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (a Slurm array) is set',
  );
}

/**
 * The jobs of one shard: every N-th job of the plan from the I-th, by the plan's order alone, so
 * the N shards together run each job exactly once, on any machines; each keeps its plan index.
 */
export const shardJobs = <T>(jobs: readonly T[], shard: Shard | null): T[] =>
  shard ? jobs.filter((_, k) => k % shard.count === shard.index - 1) : [...jobs];
