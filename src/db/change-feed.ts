import pg from 'pg';
import type { Logger } from 'pino';

/**
 * Tells this process's caches that reference data changed. Triggers NOTIFY `upkeep_changes`
 * with the table's name on commit (migration 20261123T0620); one LISTEN connection per process
 * hears it. PostgreSQL delivers every notification to a connected listener, so while the feed is
 * `live` a cache can trust what it holds; while the connection is down nothing may be trusted:
 * `live` is false (caches read through) and every subscriber is reset on loss and on reconnect,
 * so nothing cached across a gap survives it. The relay uses the same feed on its own channel
 * (upkeep_outbox: a commit that left timers or emails to relay), where a reset means "look again".
 */
export interface ChangeFeed {
  readonly live: boolean;
  /** Notifications heard so far (metrics; tests wait on it). */
  readonly heard: number;
  /** Calls `onChange` when one of `tables` changed, or when the feed was lost or came back. */
  subscribe(tables: readonly string[], onChange: () => void): void;
  close(): Promise<void>;
}

export const CHANGES_CHANNEL = 'upkeep_changes';

/**
 * LISTENs on `channel` (default upkeep_changes; the relay listens on upkeep_outbox, whose
 * notifications also name a table) and tells subscribers, as described above.
 */
export function startChangeFeed(opts: { databaseUrl: string; logger: Pick<Logger, 'warn'>; channel?: string; retryMs?: number; heartbeatMs?: number }): ChangeFeed {
  const { logger } = opts;
  const channel = opts.channel ?? CHANGES_CHANNEL;
  if (!/^[a-z_]+$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
  const retryMs = opts.retryMs ?? 1_000;
  // A connection can die without a word (a hung server, a dropped network path): then no
  // notification would ever come while the feed still looked live. A query every heartbeat,
  // answered within one, proves the connection is alive; otherwise it is dropped and re-made.
  const heartbeatMs = opts.heartbeatMs ?? 10_000;
  const subscribers: Array<{ tables: ReadonlySet<string>; onChange: () => void }> = [];
  let live = false;
  let heard = 0;
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const resetAll = () => {
    for (const s of subscribers) s.onChange();
  };
  const lost = (why: string) => {
    if (live) logger.warn({ why, channel }, 'change feed lost, reconnecting: meanwhile caches read through and the relay only polls');
    live = false;
    resetAll();
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    const c = client;
    client = undefined;
    void c?.end().catch(() => {});
    if (!closed && !retry) retry = setTimeout(() => ((retry = undefined), void connect()), retryMs).unref();
  };
  const connect = async () => {
    if (closed) return;
    // Connecting, LISTEN and each heartbeat give up after a heartbeat's time: a hung server never
    // holds the feed in a state that looks live, or stops it from trying again.
    const c = new pg.Client({ connectionString: opts.databaseUrl, connectionTimeoutMillis: heartbeatMs, query_timeout: heartbeatMs });
    client = c;
    c.on('error', (err) => {
      if (client === c) lost(err.message);
    });
    c.on('end', () => {
      if (client === c) lost('connection ended');
    });
    c.on('notification', (msg) => {
      heard++;
      for (const s of subscribers) if (msg.payload !== undefined && s.tables.has(msg.payload)) s.onChange();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      if (closed || client !== c) return void c.end().catch(() => {});
      // Whatever changed while nobody listened is unknown: start from empty caches.
      resetAll();
      live = true;
      heartbeat = setInterval(() => {
        c.query('SELECT 1').catch(() => {
          if (client === c) lost('no answer to the heartbeat');
        });
      }, heartbeatMs);
      heartbeat.unref();
    } catch (err) {
      if (client === c) lost((err as Error).message);
      else void c.end().catch(() => {});
    }
  };
  void connect();

  return {
    get live() {
      return live;
    },
    get heard() {
      return heard;
    },
    subscribe(tables, onChange) {
      subscribers.push({ tables: new Set(tables), onChange });
    },
    async close() {
      closed = true;
      live = false;
      if (retry) clearTimeout(retry);
      if (heartbeat) clearInterval(heartbeat);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}

/**
 * A bounded in-process cache of values read from the tables it names, emptied whenever one of
 * them changes (ChangeFeed). Without a live feed, or with `ttlMs` 0, it reads through. A read that
 * began before a change is not stored (generation check), so a value from before a commit cannot
 * outlive the notification of that commit. Values are shared between requests: never mutate them.
 */
export class ReferenceCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  private generation = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly feed: ChangeFeed | undefined,
    tables: readonly string[],
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {
    feed?.subscribe(tables, () => this.clear());
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  /**
   * The cached value of `key`, or `load()`'s. `load` may say until when its value holds (a duty
   * that starts or ends later): it is not kept past that, nor past the TTL (a safety net).
   */
  async get(key: string, load: () => Promise<{ value: V; validUntil?: Date | null } | undefined>): Promise<V | undefined> {
    const usable = this.feed?.live === true && this.ttlMs > 0;
    const now = Date.now();
    if (usable) {
      const hit = this.entries.get(key);
      if (hit && hit.until > now) {
        this.hits++;
        return hit.value;
      }
      if (hit) this.entries.delete(key);
    }
    this.misses++;
    const generation = this.generation;
    const loaded = await load();
    if (!loaded || !usable || !this.feed?.live || generation !== this.generation) return loaded?.value;
    const until = Math.min(now + this.ttlMs, loaded.validUntil?.getTime() ?? Infinity);
    if (until > Date.now()) {
      // Oldest first out: a Map iterates in insertion order.
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(key, { value: loaded.value, until });
    }
    return loaded.value;
  }
}
