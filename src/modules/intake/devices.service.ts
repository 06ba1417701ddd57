import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../db/index.js';
import type { Priority } from '../../db/types.js';
import { notFound, unauthorized } from '../../lib/errors.js';
import type { Cursor } from '../../lib/pagination.js';
import type { Actor } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import { createTicket } from '../tickets/tickets.service.js';
import * as tickets from '../tickets/tickets.repository.js';
import * as repo from './devices.repository.js';

export type DeviceRow = NonNullable<Awaited<ReturnType<typeof repo.findDevice>>>;

/** 32 random bytes, base64url: shown once at registration, stored only as its sha256. */
const newSecret = () => randomBytes(32).toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Compared against when the device is unknown, so a miss costs what a hit costs. */
const DUMMY_HASH = sha256('upkeep: no such device');

export function toDeviceDto(d: DeviceRow) {
  return {
    id: d.id,
    facilityId: d.facility_id,
    name: d.name,
    disabled: d.disabled_at !== null,
    disabledAt: d.disabled_at ? d.disabled_at.toISOString() : null,
    createdAt: d.created_at.toISOString(),
  };
}

export async function registerDevice(db: Db, actor: Actor, facility: { id: string; community_id: string }, name: string) {
  const secret = newSecret();
  const device = await db.transaction().execute(async (trx) => {
    const d = await repo.insertDevice(trx, { facility_id: facility.id, name: name.trim(), secret_hash: sha256(secret).toString('hex') });
    await recordAudit(trx, {
      communityId: facility.community_id,
      actorUserId: actor.userId,
      action: 'device.registered',
      entityType: 'device',
      entityId: d.id,
      // Never the secret, nor its hash.
      after: { facilityId: facility.id, name: d.name },
    });
    return d;
  });
  return { device, secret };
}

export function listDevices(db: Db, facilityId: string, opts: { cursor?: Cursor; limit: number }) {
  return repo.listDevices(db, facilityId, opts);
}

export function getDevice(db: Db, id: string) {
  return repo.findDevice(db, id);
}

/** Disabling is final for that secret: a device that must come back is registered anew. */
export async function disableDevice(db: Db, actor: Actor, deviceId: string, communityId: string) {
  return db.transaction().execute(async (trx) => {
    const before = await repo.findDeviceForUpdate(trx, deviceId);
    if (!before) throw notFound('Device');
    if (before.disabled_at) return before;
    const after = await repo.disableDevice(trx, deviceId, new Date());
    await recordAudit(trx, {
      communityId,
      actorUserId: actor.userId,
      action: 'device.disabled',
      entityType: 'device',
      entityId: deviceId,
      before: { disabledAt: null },
      after: { disabledAt: after.disabled_at },
    });
    return after;
  });
}

export interface AuthenticatedDevice {
  id: string;
  name: string;
  facilityId: string;
  facilityName: string;
  communityId: string;
}

const deviceRefused = () => unauthorized('Device authentication failed: check x-device-id and x-device-secret', 'DEVICE_UNAUTHORIZED');

/**
 * Checks a device's id and secret (constant-time on the hashes). Unknown, wrong and disabled
 * all answer the same 401, so the answer tells nothing about which devices exist.
 */
export async function authenticateDevice(db: Db, deviceId: string | undefined, secret: string | undefined): Promise<AuthenticatedDevice> {
  if (!deviceId || !secret || !UUID.test(deviceId) || secret.length > 200) throw deviceRefused();
  const device = await repo.findDeviceWithFacility(db, deviceId);
  const stored = device ? Buffer.from(device.secret_hash, 'hex') : DUMMY_HASH;
  const given = sha256(secret);
  const match = stored.length === given.length && timingSafeEqual(stored, given);
  if (!device || !match || device.disabled_at) throw deviceRefused();
  return { id: device.id, name: device.name, facilityId: device.facility_id, facilityName: device.facility_name, communityId: device.community_id };
}

export interface AlarmInput {
  dedupeKey: string;
  title?: string;
  description?: string;
  priority?: Priority;
  occurredAt?: string;
}

export interface AlarmResult {
  ticketId: string;
  ref: number;
  created: boolean;
  alarmCount: number;
}

const UNIQUE_VIOLATION = '23505';
const isDedupeRace = (err: unknown) => (err as { code?: string; constraint?: string }).code === UNIQUE_VIOLATION && (err as { constraint?: string }).constraint === 'tickets_open_dedupe_key';

/**
 * A device alarm: a repeat of an open alarm (same community and dedupe key) adds to that ticket,
 * otherwise a new 'alarm' ticket opens for the device's facility.
 *
 * Concurrency: identical alarms are serialised by a transaction-scoped advisory lock on
 * (community, dedupe key), so the second one sees the first one's ticket. The partial unique
 * index tickets_open_dedupe_key is the backstop: should an insert still collide (a ticket with
 * that key opened some other way), the transaction is retried and takes the "add" path.
 */
export async function receiveAlarm(db: Db, device: AuthenticatedDevice, input: AlarmInput): Promise<AlarmResult> {
  const dedupeKey = input.dedupeKey.trim();
  const occurredAt = input.occurredAt ? new Date(input.occurredAt).toISOString() : null;
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`alarm:${device.communityId}:${dedupeKey}`}, 0))`.execute(trx);
        const open = await tickets.findOpenByDedupeKey(trx, device.communityId, dedupeKey);
        if (open) {
          const updated = await tickets.updateTicket(trx, open.id, { alarm_count: open.alarm_count + 1 });
          await recordAudit(trx, {
            communityId: device.communityId,
            actorUserId: null,
            action: 'ticket.alarm_repeated',
            entityType: 'ticket',
            entityId: open.id,
            before: { alarmCount: open.alarm_count },
            after: { alarmCount: updated.alarm_count, deviceId: device.id, occurredAt, receivedAt: new Date().toISOString() },
          });
          return { ticketId: updated.id, ref: updated.ref, created: false, alarmCount: updated.alarm_count };
        }
        const ticket = await createTicket(trx, null, {
          communityId: device.communityId,
          kind: 'alarm',
          channel: 'device',
          priority: input.priority ?? 'P2',
          title: input.title?.trim() || [...`${device.facilityName}: ${dedupeKey}`].slice(0, 200).join(''),
          description: input.description?.trim() ?? '',
          facilityId: device.facilityId,
          isPublic: true,
          dedupeKey,
        });
        await recordAudit(trx, {
          communityId: device.communityId,
          actorUserId: null,
          action: 'device.alarm',
          entityType: 'ticket',
          entityId: ticket.id,
          after: { deviceId: device.id, dedupeKey, occurredAt },
        });
        return { ticketId: ticket.id, ref: ticket.ref, created: true, alarmCount: ticket.alarm_count };
      });
    } catch (err) {
      if (attempt < 5 && isDedupeRace(err)) continue;
      throw err;
    }
  }
}
