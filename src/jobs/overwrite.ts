/**
 * No output may overwrite an input, nor another output of the same run: files are compared by
 * what they are (device and inode, through links), not by how their paths are spelled. The
 * snapshots a run saves along the way count as outputs, by their names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { fileIdentity } from '../io/files.js';

/** A file a run reads or writes, and what it is to the run ("content image", "checkpoint"). */
export interface Role {
  what: string;
  file: string;
}

/** The snapshots of an output: `OUT_000100.ext` beside it, every `every` iterations up to `total`. */
export interface Snapshots {
  output: string;
  every: number;
  total: number;
}

/** The absolute path of `file` with every link resolved (those of its folder when it does not exist). */
function canonical(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    const dir = path.dirname(path.resolve(file));
    const real = fs.existsSync(dir) ? fs.realpathSync(dir) : dir;
    return path.join(real, path.basename(file));
  }
}

/** Whether `file` is named as one of the snapshots (link-resolved folders compared). */
function isSnapshot(rule: Snapshots, file: string): boolean {
  const ext = path.extname(rule.output);
  const stem = path.basename(rule.output, ext);
  const where = canonical(file);
  if (path.dirname(where) !== path.dirname(canonical(rule.output))) return false;
  const name = path.basename(where);
  if (!name.startsWith(`${stem}_`) || !name.endsWith(ext)) return false;
  const digits = name.slice(stem.length + 1, name.length - ext.length);
  const n = Number(digits);
  return /^\d{6,}$/.test(digits) && n > 0 && n <= rule.total && n % rule.every === 0;
}

/** The files already there that a rule's snapshots would replace (a link to an input among them). */
function existingSnapshots(rule: Snapshots): Role[] {
  const dir = path.dirname(path.resolve(rule.output));
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const what = 'snapshot (snapshotEvery)';
  return names.map((name) => path.join(dir, name)).flatMap((file) => (isSnapshot(rule, file) ? [{ what, file }] : []));
}

/** The refusal, naming the snapshots' setting where it speaks of them. */
const overwriteError = (message: string) =>
  new InputError(message, message.includes('(snapshotEvery)') ? { names: ['snapshotEvery'] } : {});

/**
 * Throws an InputError, one line naming both paths, if a file written would be a file read or
 * another file written: the same file by identity, or named as one of the snapshots.
 */
export function refuseOverwrites(
  reads: readonly Role[],
  writes: readonly Role[],
  snapshots: readonly Snapshots[],
): void {
  const written = new Map<string, Role>();
  for (const role of [...writes, ...snapshots.flatMap(existingSnapshots)]) {
    const id = fileIdentity(role.file);
    const other = written.get(id);
    if (other) throw overwriteError(`${role.what} ${role.file} is the same file as the ${other.what} ${other.file}`);
    written.set(id, role);
  }
  for (const read of reads) {
    const write = written.get(fileIdentity(read.file));
    if (write) throw overwriteError(`${write.what} ${write.file} would overwrite the ${read.what} ${read.file}`);
  }
  for (const rule of snapshots) {
    const what = `snapshots (snapshotEvery) of ${rule.output}`;
    const read = reads.find((r) => isSnapshot(rule, r.file));
    if (read) throw overwriteError(`${what} would overwrite the ${read.what} ${read.file}`);
    const write = writes.find((w) => isSnapshot(rule, w.file));
    if (write) throw overwriteError(`${what} would overwrite the ${write.what} ${write.file}`);
  }
}
