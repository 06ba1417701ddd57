import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { Config } from '../../src/config.js';
import type { Db } from '../../src/db/index.js';
import type { EmailChannel } from '../../src/modules/notifications/channels.js';
import { startWorkers, type Workers } from '../../workers/worker.js';
import { TEST_REDIS_URL } from './env.js';

/** A BullMQ key prefix no other test file uses. */
export function uniquePrefix(): string {
  return `test-${randomBytes(5).toString('hex')}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns something other than undefined/false; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * Deletes every key under a BullMQ prefix (SCAN + DEL): what losing Redis's data means for
 * this prefix. The shared test Redis is never flushed: other files run beside this one.
 */
export async function deletePrefix(prefix: string, redisUrl = TEST_REDIS_URL): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export interface LogCapture {
  logger: Logger;
  /** Every log line written, parsed. */
  entries: Array<Record<string, unknown> & { msg?: string }>;
}

/** A pino logger that keeps what it writes (for asserting on logged events, e.g. LogChannel's emails). */
export function captureLogs(level: pino.Level = 'info'): LogCapture {
  const entries: LogCapture['entries'] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) entries.push(JSON.parse(line) as LogCapture['entries'][number]);
      }
      done();
    },
  });
  return { logger: pino({ level }, stream), entries };
}

export interface StartedWorkers extends Workers {
  prefix: string;
}

/**
 * Starts workers (startWorkers, as in production) on unique prefixes and cleans up after them:
 * close() each, then delete all their keys.
 */
export class TestWorkers {
  private readonly started: StartedWorkers[] = [];
  private readonly prefixes = new Set<string>();

  constructor(private readonly base: { db: Db; databaseUrl: string; config: Config; logger?: Logger }) {}

  async start(opts: { config?: Partial<Config>; prefix?: string; channel?: EmailChannel; logger?: Logger; redisUrl?: string } = {}): Promise<StartedWorkers> {
    const prefix = opts.prefix ?? uniquePrefix();
    this.prefixes.add(prefix);
    const workers = await startWorkers({
      config: { ...this.base.config, ...opts.config },
      db: this.base.db,
      redisUrl: opts.redisUrl ?? TEST_REDIS_URL,
      logger: opts.logger ?? this.base.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      prefix,
      databaseUrl: this.base.databaseUrl,
      ...(opts.channel ? { channel: opts.channel } : {}),
    });
    const started = Object.assign(workers, { prefix });
    this.started.push(started);
    return started;
  }

  /** Remembers a prefix used outside start() (e.g. by a child process) for cleanup. */
  track(prefix: string): void {
    this.prefixes.add(prefix);
  }

  /** Closes every running worker set (gracefully: running jobs finish). */
  async closeAll(): Promise<void> {
    const running = this.started.splice(0);
    for (const w of running) await w.close();
  }

  /** closeAll(), then deletes every key of every prefix used. */
  async cleanup(): Promise<void> {
    await this.closeAll();
    for (const prefix of this.prefixes) await deletePrefix(prefix);
    this.prefixes.clear();
  }
}
