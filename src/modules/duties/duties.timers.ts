import type { Logger } from 'pino';
import type { Trx } from '../../db/index.js';
import { scheduleTimers, cancelTimers, type TimerSpec } from '../timers/timers.service.js';
import type { FiredTimer } from '../timers/timers.jobs.js';
import { sql } from 'kysely';
import { notifyMany } from '../notifications/notifications.service.js';
import { recipients, type Recipient } from '../notifications/recipients.js';

/** Reminders before a duty contract ends (DESIGN.md "Duty resolution"). */
export const CONTRACT_REMINDER_DAYS = [30, 7] as const;
const DAY_MS = 86_400_000;

export function contractReminderJobId(dutyId: string, daysBefore: number, validTo: Date): string {
  return `duty-ending-${dutyId}-${daysBefore}d-${Math.floor(validTo.getTime() / 1000)}`;
}

/**
 * The reminder timers for a duty, derived from its end date (pure). Past reminder times are
 * dropped, except that a contract already inside its last reminder window gets one reminder now.
 */
export function contractReminderTimers(duty: { id: string; communityId: string; validTo: Date | null }, now = new Date()): TimerSpec<'duty.contract-ending'>[] {
  if (!duty.validTo || duty.validTo <= now) return [];
  const validTo = duty.validTo;
  const specs = CONTRACT_REMINDER_DAYS.map((days) => ({ days, dueAt: new Date(validTo.getTime() - days * DAY_MS) }));
  const future = specs.filter((s) => s.dueAt > now);
  const chosen = future.length > 0 ? future : [{ days: Math.min(...CONTRACT_REMINDER_DAYS), dueAt: now }];
  return chosen.map(({ days, dueAt }) => ({
    kind: 'duty.contract-ending' as const,
    subjectId: duty.id,
    communityId: duty.communityId,
    dueAt,
    jobId: contractReminderJobId(duty.id, days, validTo),
    payload: { dutyId: duty.id, daysBefore: days, validTo: validTo.toISOString() },
  }));
}

/** Replaces a duty's reminder timers, in the transaction that creates or changes the duty. */
export async function scheduleContractReminders(trx: Trx, duty: { id: string; communityId: string; validTo: Date | null }): Promise<void> {
  await cancelTimers(trx, duty.id, 'duty.contract-ending');
  await scheduleTimers(trx, contractReminderTimers(duty));
}

/** Timer handler: tells the holder's managers and the owners' committee, if the duty still ends then. */
export function onContractEnding(trx: Trx, timer: FiredTimer<'duty.contract-ending'>, logger: Logger): Promise<void> {
  return onContractEndingMany(trx, [timer], logger);
}

/**
 * The same for a batch of due reminders (the timers engine fires due timers in batches): three
 * reads and one insert whatever the batch size, in the firing transaction.
 */
export async function onContractEndingMany(trx: Trx, timers: Array<FiredTimer<'duty.contract-ending'>>, logger: Logger): Promise<void> {
  if (timers.length === 0) return;
  const dutyIds = [...new Set(timers.map((t) => t.payload.dutyId))];
  const duties = await trx
    .selectFrom('duty_assignments as d')
    .innerJoin('organizations as o', 'o.id', 'd.organization_id')
    .innerJoin('communities as c', 'c.id', 'd.community_id')
    .select(['d.id', 'd.community_id', 'd.organization_id', 'd.facility_category', 'd.valid_to', 'o.name as org_name', 'c.name as community_name', 'c.time_zone'])
    .where(sql<boolean>`d.id = ANY(${dutyIds}::uuid[])`)
    .execute();
  const dutyById = new Map(duties.map((d) => [d.id, d]));
  const applicable = timers.flatMap((timer) => {
    const duty = dutyById.get(timer.payload.dutyId);
    if (!duty || !duty.valid_to || duty.valid_to.toISOString() !== timer.payload.validTo) {
      logger.info({ dutyId: timer.payload.dutyId }, 'duty gone or its end date changed: reminder no longer applies');
      return [];
    }
    return [{ timer, duty }];
  });
  if (applicable.length === 0) return;
  const orgIds = [...new Set(applicable.map((a) => a.duty.organization_id))];
  const managers = await trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.organization_id', 'u.id', 'u.email', 'u.name', 'u.locale'])
    .where(sql<boolean>`m.organization_id = ANY(${orgIds}::uuid[])`)
    .where('m.role', 'in', ['manager', 'chair'])
    .where('u.disabled_at', 'is', null)
    .execute();
  const managersByOrg = new Map<string, Recipient[]>();
  for (const u of managers) {
    const list = managersByOrg.get(u.organization_id) ?? [];
    list.push({ userId: u.id, email: u.email, name: u.name, locale: u.locale });
    managersByOrg.set(u.organization_id, list);
  }
  const committees = await recipients.committeeMembersByCommunity(trx, [...new Set(applicable.map((a) => a.duty.community_id))]);
  await notifyMany(
    trx,
    applicable.map(({ timer, duty }) => ({
      dedupeKey: timer.jobId,
      communityId: duty.community_id,
      timeZone: duty.time_zone,
      template: 'duty.contract_ending' as const,
      payload: { communityName: duty.community_name, organizationName: duty.org_name, validTo: timer.payload.validTo, daysBefore: timer.payload.daysBefore, category: duty.facility_category },
      recipients: [...(managersByOrg.get(duty.organization_id) ?? []), ...(committees.get(duty.community_id) ?? [])],
    })),
  );
}
