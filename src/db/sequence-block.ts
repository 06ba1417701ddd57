import { sql } from 'kysely';
import type { Db } from './index.js';

/**
 * Values of a PostgreSQL sequence drawn a block at a time and handed out in this process: one
 * round trip per `size` values instead of one per value (what `CACHE n` does per session, kept
 * across the pool's connections). Like any sequence, values are unique but may have gaps (a
 * restart drops what was left of the block) and are not in commit order across processes.
 */
export class SequenceBlock {
  private readonly left: string[] = [];
  private refill: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly sequence: string,
    private readonly size = 20,
  ) {}

  async next(): Promise<string> {
    for (;;) {
      const value = this.left.shift();
      if (value !== undefined) return value;
      // Concurrent callers share one refill.
      this.refill ??= this.fill().finally(() => {
        this.refill = undefined;
      });
      await this.refill;
    }
  }

  private async fill(): Promise<void> {
    const { rows } = await sql<{ v: string }>`SELECT n::text AS v FROM (SELECT nextval(${this.sequence}::regclass) AS n FROM generate_series(1, ${this.size}::int)) s ORDER BY n`.execute(this.db);
    this.left.push(...rows.map((r) => r.v));
  }
}
