import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import type { JobPayloads } from '../../jobs/jobs.js';
import { generateTasks } from './generator.js';

/** `inspections.generate` (hourly): tasks of every active plan for the rolling horizon; idempotent. */
export async function handleGenerate(_data: JobPayloads['inspections.generate'], ctx: { db: Db; logger: Logger; config: Pick<Config, 'inspectionHorizonDays'> }): Promise<void> {
  const started = Date.now();
  const r = await generateTasks(ctx.db, { horizonDays: ctx.config.inspectionHorizonDays, logger: ctx.logger });
  ctx.logger[r.tasks > 0 || r.failedPlans > 0 ? 'info' : 'debug']({ ...r, ms: Date.now() - started }, 'inspection tasks generated');
}
