/**
 * Outcomes of work one job did for other jobs (a batch that fired timers or sent emails whose
 * own jobs have not run yet), so those jobs need not ask PostgreSQL: each id's outcome, a promise
 * while the batch is in flight, taken once by the id's own job. Bounded (oldest dropped): a job
 * that finds nothing here asks PostgreSQL, which stays the authority.
 */
export class OutcomeMemo<T> {
  private readonly outcomes = new Map<string, Promise<T>>();
  constructor(private readonly max = 50_000) {}

  take(id: string): Promise<T> | undefined {
    const p = this.outcomes.get(id);
    if (p) this.outcomes.delete(id);
    return p;
  }

  remember(ids: Iterable<string>, outcome: (id: string) => Promise<T>): void {
    for (const id of ids) this.outcomes.set(id, outcome(id));
    // Oldest first: a Map iterates in insertion order.
    for (const id of this.outcomes.keys()) {
      if (this.outcomes.size <= this.max) break;
      this.outcomes.delete(id);
    }
  }

  get size(): number {
    return this.outcomes.size;
  }
}
