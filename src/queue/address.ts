/**
 * Where a queue lives: the Redis server (a redis:// or rediss:// URL) and the queue's name in it.
 * Checked once, before any connection; `probeRedis` says whether the server answers.
 */
import { InputError } from '../errors.js';
import { oneLine } from '../io/atomic.js';

/** The queue's name when none is given. */
export const DEFAULT_QUEUE_NAME = 'nst';

export interface QueueAddress {
  /** redis://[user:password@]host[:port][/db] or rediss:// (TLS). */
  redis: string;
  queue: string;
}

/** The URL with its password hidden: for messages. */
export function shownUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/** Checks the address: an InputError names a URL that is not a Redis one, or a name BullMQ cannot use. */
export function checkAddress(redis: string, queue: string = DEFAULT_QUEUE_NAME): QueueAddress {
  let url: URL;
  try {
    url = new URL(redis);
  } catch {
    throw new InputError(`Redis URL ${shownUrl(redis)}: not a URL (redis://host:port)`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new InputError(`Redis URL ${shownUrl(redis)}: must start with redis:// or rediss://`);
  if (!/^[A-Za-z0-9_.-]+$/.test(queue))
    throw new InputError(`queue name ${queue}: use letters, digits, '.', '_' and '-'`);
  return { redis, queue };
}

/** BullMQ's connection options for a worker or a QueueEvents: their blocking reads retry forever (BullMQ requires it). */
export const connectionOf = (address: QueueAddress) => ({ url: address.redis, maxRetriesPerRequest: null });

/** What a Redis server says of itself. */
export interface RedisInfo {
  version: string;
  /** `maxmemory-policy`; null where CONFIG is not allowed (managed servers). */
  evictionPolicy: string | null;
}

/**
 * Connects once, without retries: an Error `cannot reach Redis at URL: reason` when the server
 * does not answer, else its version and eviction policy (BullMQ needs `noeviction`).
 */
export async function probeRedis(address: QueueAddress): Promise<RedisInfo> {
  const { Redis } = await import('ioredis');
  const client = new Redis(address.redis, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5000,
  });
  let cause: unknown = null; // the socket's error: the rejected connect only says the connection closed
  client.on('error', (error) => (cause ??= error));
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    const policy = await client.config('GET', 'maxmemory-policy').then(
      (reply) => (reply as string[])[1] ?? null,
      () => null,
    );
    return { version, evictionPolicy: policy };
  } catch (error) {
    throw new Error(`cannot reach Redis at ${shownUrl(address.redis)}: ${oneLine(cause ?? error)}`);
  } finally {
    client.disconnect();
  }
}
