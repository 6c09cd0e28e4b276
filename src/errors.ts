/**
 * The library's one error for bad arguments and bad input (a setting out of range, an unreadable
 * image, a broken weights file). It says which setting or file is at fault, so that a caller can
 * word it in its own terms: the command names the flag and ends with exit code 2. Every other
 * error is a failure of the run itself. Imports nothing: every layer may throw it.
 */
export interface InputErrorDetail {
  /** The setting at fault (a key of the settings table, core/settings.ts). */
  setting?: string;
  /** What is wrong with it, worded to follow its name ("must be positive"). */
  problem?: string;
  /** The file at fault. */
  file?: string;
  /**
   * Settings the message names, spelled as the library spells them (`size`, `styleScale`), each
   * once: a caller may respell them in its own terms (the command: as its flags).
   */
  names?: string[];
}

export class InputError extends Error {
  override name = 'InputError';
  constructor(
    message: string,
    readonly detail: InputErrorDetail = {},
  ) {
    super(message);
  }
}

/** "<name> <problem>", or "<name>: …" for a problem that starts with a colon. */
export const named = (name: string, problem: string) => `${name}${problem.startsWith(':') ? '' : ' '}${problem}`;

/** The error for a bad value of a setting: "<setting> <problem>", with both as fields. */
export function settingError(setting: string, problem: string): InputError {
  return new InputError(named(setting, problem), { setting, problem });
}
