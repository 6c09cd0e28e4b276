/**
 * `-o -`: the image goes to standard output. The job writes it as it writes any output (atomically,
 * the best image at Ctrl-C) to a private temporary file in the format `--format` names, and the
 * bytes are copied to standard output once the job has ended; messages stay on stderr.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { trackTemporary } from '../io/atomic.js';

export const STDOUT = '-';
/** The formats `-o -` writes, by `--format`. */
export const STDOUT_FORMATS = ['png', 'jpg', 'bmp', 'tif', 'webp', 'avif'] as const;

/** Where a job writes its output, and what happens to it after. */
export interface OutputTarget {
  /** The file the job writes. */
  file: string;
  /** The output is complete: copy it where it goes. */
  finish(): Promise<void>;
  /** Removes what the target made (nothing for a file). */
  dispose(): void;
}

/** The target of `output` (a file, or `-` with `format`), refused where other flags need stdout or a folder. */
export function outputTarget(flags: {
  output: string;
  format?: string;
  json?: boolean;
  snapshotEvery?: number;
}): OutputTarget {
  if (flags.output !== STDOUT) {
    if (flags.format !== undefined)
      throw new InputError(`--format ${flags.format}: goes with -o - (a file's format is its extension)`);
    return { file: flags.output, finish: async () => {}, dispose: () => {} };
  }
  if (flags.json)
    throw new InputError('-o - writes the image to standard output, where --json writes its events: use one');
  if (flags.snapshotEvery !== undefined)
    throw new InputError('--save-every writes snapshots beside the output: give -o a file, not -');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nst-stdout-'));
  trackTemporary(dir, true); // an exit at a signal removes it
  const file = path.join(dir, `output.${flags.format ?? 'png'}`);
  return {
    file,
    finish: () => copyToStdout(file),
    dispose: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      trackTemporary(dir, false);
    },
  };
}

/** The file's bytes on standard output; a reader that went away (EPIPE) is not an error of ours. */
function copyToStdout(file: string): Promise<void> {
  const bytes = fs.readFileSync(file);
  const ignore = () => {}; // the write's callback has the error too
  process.stdout.on('error', ignore);
  return new Promise<void>((resolve, reject) => {
    process.stdout.write(bytes, (err) => {
      if (err && (err as NodeJS.ErrnoException).code !== 'EPIPE') reject(err);
      else resolve();
    });
  }).finally(() => process.stdout.off('error', ignore));
}
