/** Where `--preview` listens: HOST:PORT, :PORT or PORT; loopback and a free port by default. */
import { InputError } from '../../errors.js';

export interface Address {
  host: string;
  port: number;
}

export const DEFAULT_HOST = '127.0.0.1';

/** `--preview` without a value is `true`: loopback, a port the system picks. */
export function parseAddress(text: string | true): Address {
  if (text === true) return { host: DEFAULT_HOST, port: 0 };
  const match = /^(?:(\[[0-9a-f:]+\]|[^:]*):)?(\d{1,5})$/i.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new InputError(`--preview ${text}: must be HOST:PORT, :PORT or PORT`);
  return { host: (match[1] || DEFAULT_HOST).replace(/^\[|\]$/g, ''), port };
}

/** Whether a host name or address is this machine only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
