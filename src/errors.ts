/**
 * Errors that end the command with exit code 2: bad usage or bad input (a flag out of range,
 * an unreadable image, a broken weights file). Anything else is an internal failure (exit 1).
 */
export class InputError extends Error {
  override name = 'InputError';
}
