import * as fs from 'node:fs';
import * as path from 'node:path';

/** An error's message on one line, for messages that quote it. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim();
}

/** Makes temporary names unique within the process, for concurrent writes to the same path. */
let tempCounter = 0;

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
  try {
    const handle = await fs.promises.open(temp, 'w');
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
  }
}
