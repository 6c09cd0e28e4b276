import * as fs from 'node:fs';
import * as path from 'node:path';

/** An error's message on one line, for messages that quote it. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim();
}

/** Makes temporary names unique within the process, for concurrent writes to the same path. */
let tempCounter = 0;

/** The temporary files being written now: what an exit must not leave behind. */
const pending = new Set<string>();

/** Marks `file` as a temporary file (or folder) being written (true) or done with (false). */
export function trackTemporary(file: string, active: boolean): void {
  if (active) pending.add(file);
  else pending.delete(file);
}

/**
 * Creates the empty file `file` synchronously and returns its name, to be opened without creating
 * it again: then a signal handler that removes it (removeTemporaryFiles) cannot race its creation,
 * and an open still under way when it does fails instead of bringing it back.
 */
export function createTemporary(file: string): string {
  fs.closeSync(fs.openSync(file, 'w'));
  return file;
}

/**
 * Removes every temporary file being written, synchronously: for a process that exits at once
 * (a second Ctrl-C). A rename already done has put the whole file in place; one not done yet
 * then fails, leaving the old file.
 */
export function removeTemporaryFiles(): void {
  for (const file of pending) fs.rmSync(file, { force: true, recursive: true });
  pending.clear();
}

/**
 * Writes `bytes` to a hidden temporary file beside `file` and renames it onto `file`: `file` holds
 * either its old content or the whole new one, never a part (a full disk fails before the rename).
 * A failure is an Error `cannot write <what> <file>: <reason>` and leaves no temporary file.
 */
export async function writeFileAtomic(
  file: string,
  bytes: Uint8Array | readonly Uint8Array[],
  what: string,
): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${tempCounter++}`);
  trackTemporary(temp, true);
  try {
    const handle = await fs.promises.open(createTemporary(temp), 'r+');
    try {
      // writeFile writes a part whole, from the current position.
      for (const part of bytes instanceof Uint8Array ? [bytes] : bytes) await handle.writeFile(part);
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temp, file);
  } catch (err) {
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw new Error(`cannot write ${what} ${file}: ${oneLine(err)}`, { cause: err });
  } finally {
    trackTemporary(temp, false);
  }
}
