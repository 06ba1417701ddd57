import type { Logger } from 'pino';
import type { Trx } from '../../db/index.js';
import { scheduleTimers, cancelTimers, type TimerSpec } from '../timers/timers.service.js';
import type { FiredTimer } from '../timers/timers.jobs.js';
import { notify } from '../notifications/notifications.service.js';
import { recipients } from '../notifications/recipients.js';

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
export async function onContractEnding(trx: Trx, timer: FiredTimer<'duty.contract-ending'>, logger: Logger): Promise<void> {
  const duty = await trx
    .selectFrom('duty_assignments as d')
    .innerJoin('organizations as o', 'o.id', 'd.organization_id')
    .innerJoin('communities as c', 'c.id', 'd.community_id')
    .select(['d.id', 'd.community_id', 'd.organization_id', 'd.facility_category', 'd.valid_to', 'o.name as org_name', 'c.name as community_name', 'c.time_zone'])
    .where('d.id', '=', timer.payload.dutyId)
    .executeTakeFirst();
  if (!duty || !duty.valid_to || duty.valid_to.toISOString() !== timer.payload.validTo) {
    logger.info({ dutyId: timer.payload.dutyId }, 'duty gone or its end date changed: reminder no longer applies');
    return;
  }
  const holderManagers = await trx
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.email', 'u.name', 'u.locale'])
    .where('m.organization_id', '=', duty.organization_id)
    .where('m.role', 'in', ['manager', 'chair'])
    .where('u.disabled_at', 'is', null)
    .execute();
  const committee = await recipients.committeeMembers(trx, duty.community_id);
  await notify(trx, {
    dedupeKey: timer.jobId,
    communityId: duty.community_id,
    timeZone: duty.time_zone,
    template: 'duty.contract_ending',
    payload: { communityName: duty.community_name, organizationName: duty.org_name, validTo: timer.payload.validTo, daysBefore: timer.payload.daysBefore, category: duty.facility_category },
    recipients: [...holderManagers.map((u) => ({ userId: u.id, email: u.email, name: u.name, locale: u.locale })), ...committee],
  });
}
