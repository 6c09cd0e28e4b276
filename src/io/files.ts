/**
 * Input files read whole, and which file a path names. Regular files are read when asked; a pipe
 * (standard input as `-`, a FIFO, a process substitution's /dev/fd/N) is read once, up front, by
 * `readPipes`, and its bytes stand in for the file after that. Devices are refused: /dev/zero or
 * /dev/urandom would fill the memory.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { oneLine } from './atomic.js';

/** What kind of file a stat says, for messages. */
function kind(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a plain file';
}

/** Why a file could not be opened, to follow its name. */
function openProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'ELOOP') return 'is a loop of symbolic links';
  return `cannot read file (${oneLine(err)})`;
}

/** The bytes of the pipes read so far, by the name they were given as. */
const piped = new Map<string, Buffer>();

/** Standard input's name as an input. */
export const STDIN = '-';

/** Whether `file` is read as a pipe: `-`, or a FIFO (through links: /dev/fd/63 of a process substitution). */
export function isPipe(file: string): boolean {
  if (file === STDIN) return true;
  try {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    return Boolean(stat?.isFIFO());
  } catch {
    return false; // a loop of links, say: reading it says why
  }
}

/**
 * Reads the pipe `file` whole (at most `maxBytes`; `limit` says what that is), once, so that
 * readRegularFile gives its bytes from then on: a pipe can be read only once. A FIFO is opened
 * without blocking and read through the event loop, which waits for its writer: a blocking open
 * would hold a thread that even process.exit waits for, and Ctrl-C must end the command.
 * Throws an Error whose message is the problem, to follow the file's name.
 */
export async function readPipe(file: string, maxBytes: number, limit: string): Promise<void> {
  if (piped.has(file)) return;
  let stream: NodeJS.ReadableStream;
  if (file === STDIN) stream = process.stdin;
  else {
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (err) {
      throw new Error(openProblem(err));
    }
    stream = new net.Socket({ fd, readable: true, writable: false });
  }
  piped.set(file, await readAll(stream, maxBytes, limit));
}

/** A stream's bytes to its end, refused past `maxBytes`. */
async function readAll(stream: NodeJS.ReadableStream, maxBytes: number, limit: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    length += (chunk as Buffer).length;
    if (length > maxBytes) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw new Error(`is more than ${limit}`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The bytes of the regular file `file`, at most `maxBytes` of them (`limit` says what that limit
 * is, for the message). Opened without blocking (a FIFO answers at once) and checked on the open
 * descriptor, so what is read is what was checked. Synchronous: a regular file's read is bounded.
 * Throws an Error whose message is the problem, to follow the file's name: "file not found",
 * "is a FIFO, not a regular file", "is 5000000000 bytes, more than …".
 */
export function readRegularFile(file: string, maxBytes = Infinity, limit = `${maxBytes} bytes`): Buffer {
  const bytes = piped.get(file);
  if (bytes) {
    if (bytes.length > maxBytes) throw new Error(`is ${bytes.length} bytes, more than ${limit}`);
    return bytes;
  }
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw new Error(openProblem(err));
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new Error(`is ${kind(stat)}, not a regular file`);
    if (stat.size > maxBytes) throw new Error(`is ${stat.size} bytes, more than ${limit}`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * What identifies the file `file` names: device and inode for one that exists (whatever link or
 * spelling leads to it), else its absolute path with the links in its directory resolved.
 */
export function fileIdentity(file: string): string {
  if (file === STDIN) return 'stdin';
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(file, { throwIfNoEntry: false });
  } catch {
    // A loop of links names no file: its spelling identifies it, and reading it is refused.
  }
  if (stat) return `${stat.dev}:${stat.ino}`;
  const dir = path.dirname(path.resolve(file));
  let real = dir;
  try {
    real = fs.realpathSync(dir);
  } catch {
    // A missing directory: the spelling is all there is.
  }
  return path.join(real, path.basename(file));
}

/** A system file's text (/proc, /sys, a driver's description), trimmed, or null where it cannot be read. */
export function readSystemText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}
