/**
 * Input files read whole, and which file a path names. Only regular files are read: a device
 * (/dev/zero, /dev/urandom) would fill the memory and a FIFO nobody writes would block for ever.
 */
import * as fs from 'node:fs';
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

/**
 * The bytes of the regular file `file`, at most `maxBytes` of them (`limit` says what that limit
 * is, for the message). Opened without blocking (a FIFO answers at once) and checked on the open
 * descriptor, so what is read is what was checked. Synchronous: a regular file's read is bounded.
 * Throws an Error whose message is the problem, to follow the file's name: "file not found",
 * "is a FIFO, not a regular file", "is 5000000000 bytes, more than …".
 */
export function readRegularFile(file: string, maxBytes = Infinity, limit = `${maxBytes} bytes`): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? 'file not found' : `cannot read file (${oneLine(err)})`);
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
  const stat = fs.statSync(file, { throwIfNoEntry: false });
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
