import { UnrecoverableError, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { Config } from '../../config.js';
import type { Db } from '../../db/index.js';
import { jobId, type JobPayloads } from '../../jobs/jobs.js';
import type { EmailChannel } from './channels.js';
import { notify, sendEmail, type EmailSender } from './notifications.service.js';
import { recipients } from './recipients.js';

export interface NotificationJobContext {
  db: Db;
  logger: Logger;
  queue: Queue;
  channel: EmailChannel;
  config: Pick<Config, 'emailMaxAttempts' | 'emailLeaseSeconds'>;
  /** The worker's sender, which lets the email jobs running together share a claim (without it each job claims alone). */
  emailSender?: EmailSender;
}

/** `notification.send`: one email, at most once per dedupe key (see sendEmail); SendFailed makes BullMQ retry it with backoff. */
export async function handleSend(data: JobPayloads['notification.send'], ctx: NotificationJobContext): Promise<void> {
  const outcome = ctx.emailSender
    ? await ctx.emailSender.send(data.notificationId)
    : await sendEmail({ db: ctx.db, channel: ctx.channel, config: ctx.config }, data.notificationId);
  if (outcome === 'dead') ctx.logger.error({ notificationId: data.notificationId }, 'email is dead: attempts exhausted (see GET /api/v1/admin/notifications?status=dead)');
  else ctx.logger.debug({ notificationId: data.notificationId, outcome }, 'email');
}

/** Digests go out from 08:00 local time; a worker that was down catches up until noon. */
export const DIGEST_HOUR = 8;
const DIGEST_LAST_HOUR = 12;
const ENDING_WITHIN_DAYS = 30;

/** The local day (YYYYMMDD) and hour of `at` in a time zone. */
export function localDayAndHour(at: Date, timeZone: string): { day: string; hour: number } {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const part = (t: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === t)?.value ?? '';
  return { day: `${part('year')}${part('month')}${part('day')}`, hour: Number(part('hour')) };
}

/** `digest.tick`: enqueues today's digest for every community where it is now digest time. */
export async function handleDigestTick(data: JobPayloads['digest.tick'], ctx: NotificationJobContext): Promise<void> {
  const at = data.requestedAt ? new Date(data.requestedAt) : new Date();
  if (Number.isNaN(at.getTime())) throw new UnrecoverableError(`digest.tick: requestedAt "${data.requestedAt}" is not a date`);
  const communities = await ctx.db.selectFrom('communities').select(['id', 'time_zone']).execute();
  const due = communities
    .map((c) => ({ id: c.id, ...localDayAndHour(at, c.time_zone) }))
    .filter((c) => c.hour >= DIGEST_HOUR && c.hour < DIGEST_LAST_HOUR);
  for (let i = 0; i < due.length; i += 500) {
    await ctx.queue.addBulk(
      due.slice(i, i + 500).map((c) => ({
        name: 'digest.community',
        data: { communityId: c.id, day: c.day },
        // One digest job per community and local day, however many ticks see it.
        opts: { jobId: jobId('digest', c.id, c.day) },
      })),
    );
  }
  if (due.length > 0) ctx.logger.info({ communities: due.length }, 'digest: enqueued');
}

/** `digest.community`: each manager of the duty holders gets open and overdue work; nothing when empty. */
export async function handleDigestCommunity(data: JobPayloads['digest.community'], ctx: NotificationJobContext): Promise<void> {
  const community = await ctx.db.selectFrom('communities').select(['id', 'name', 'time_zone']).where('id', '=', data.communityId).executeTakeFirst();
  if (!community) return;
  const faulty = await ctx.db
    .selectFrom('facilities')
    .select(['name', 'category', 'status'])
    .where('community_id', '=', community.id)
    .where('status', 'in', ['faulty', 'under_repair'])
    .orderBy('name')
    .limit(100)
    .execute();
  const ending = await ctx.db
    .selectFrom('duty_assignments as d')
    .innerJoin('organizations as o', 'o.id', 'd.organization_id')
    .select(['o.name', 'd.valid_to'])
    .where('d.community_id', '=', community.id)
    .where('d.valid_to', '>', sql<Date>`now()`)
    .where('d.valid_to', '<=', sql<Date>`now() + make_interval(days => ${ENDING_WITHIN_DAYS})`)
    .execute();
  if (faulty.length === 0 && ending.length === 0) {
    ctx.logger.debug({ communityId: community.id }, 'digest: nothing open; not sent');
    return;
  }
  const managers = await recipients.dutyHolderManagers(ctx.db, community.id);
  if (managers.length === 0) return;
  const day = `${data.day.slice(0, 4)}-${data.day.slice(4, 6)}-${data.day.slice(6, 8)}`;
  await ctx.db.transaction().execute((trx) =>
    notify(trx, {
      dedupeKey: jobId('digest', community.id, data.day),
      communityId: community.id,
      timeZone: community.time_zone,
      template: 'digest.daily',
      payload: {
        communityName: community.name,
        day,
        faultyFacilities: faulty.map((f) => ({ name: f.name, category: f.category, status: f.status })),
        endingDuties: ending.map((e) => ({ organizationName: e.name, validTo: (e.valid_to as Date).toISOString() })),
      },
      recipients: managers,
    }),
  );
}
