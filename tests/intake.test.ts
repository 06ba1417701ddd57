import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { as, makeFacility, makeTwoWorlds, makeUnit, makeUser } from './helpers/factories.js';
import { multipart, type MultipartPart as Part } from './helpers/http.js';

/**
 * Intake from outside the staff's screens: the public QR form of a facility, device alarms,
 * and files attached to tickets. Hostile input answers a clear 4xx and stores nothing.
 */

const API = '/api/v1';
const uniq = () => randomBytes(4).toString('hex');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const REPORT_LIMIT = 3;
const ALARM_LIMIT = 25;
const UPLOAD_MAX = 64 * 1024;

let t: TestApp;
let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
let uploadDir: string;

beforeAll(async () => {
  uploadDir = await mkdtemp(join(tmpdir(), 'upkeep-intake-'));
  t = await createTestApp({ uploadDir, uploadMaxBytes: UPLOAD_MAX, publicReportRateLimitPerMinute: REPORT_LIMIT, deviceAlarmRateLimitPerMinute: ALARM_LIMIT });
  w = await makeTwoWorlds(t.db);
});
afterAll(async () => {
  await t?.close();
  if (uploadDir) await rm(uploadDir, { recursive: true, force: true });
});

/** A fresh client address for each use: the public routes' rate limit keys on it. */
let addressSeq = 0;
const freshAddress = () => `10.1.${Math.floor(++addressSeq / 250)}.${(addressSeq % 250) + 1}`;

const count = async (table: 'tickets' | 'audit_events' | 'ticket_attachments' | 'devices') => {
  const r = await t.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
};

const anonymous = (opts: InjectOptions) => t.app.inject(opts);

describe('public QR intake', () => {
  const report = (token: string, payload: unknown, remoteAddress = freshAddress(), headers: Record<string, string> = {}) =>
    anonymous({ method: 'POST', url: `${API}/public/facilities/${encodeURIComponent(token)}/reports`, payload: payload as object, remoteAddress, headers });
  const valid = () => ({ description: '电梯门关不上，按钮没反应', reporterName: '李四', reporterPhone: '13812345678' });

  it('shows the form only what it needs, without a login', async () => {
    const facility = await makeFacility(t.db, w.a.community.id, 'elevator');
    const res = await anonymous({ method: 'GET', url: `${API}/public/facilities/${facility.qr_token}`, remoteAddress: freshAddress() });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ communityName: w.a.community.name, facility: { name: facility.name, category: 'elevator', location: null } });
    expect(res.body).not.toContain(facility.id);
    expect(res.body).not.toContain(w.a.community.id);
  });

  it('opens a P3 public fault ticket on the qr channel, marks the facility faulty and answers only a receipt', async () => {
    const facility = await makeFacility(t.db, w.a.community.id, 'elevator');
    // A bogus token in the Authorization header changes nothing: these routes have no login.
    const res = await report(facility.qr_token, valid(), freshAddress(), { authorization: 'Bearer garbage', 'accept-language': 'en' });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['message', 'ref', 'status']);
    expect(body.status).toBe('new');
    expect(body.message).toContain(String(body.ref));
    expect(res.body).not.toContain('13812345678');
    expect(res.body).not.toContain('5678');

    const ticket = await t.db.selectFrom('tickets').selectAll().where('ref', '=', body.ref).executeTakeFirstOrThrow();
    expect(ticket).toMatchObject({
      community_id: w.a.community.id,
      kind: 'fault',
      channel: 'qr',
      priority: 'P3',
      category: 'elevator',
      facility_id: facility.id,
      is_public: true,
      reporter_user_id: null,
      reporter_name: '李四',
      reporter_phone: '13812345678',
      status: 'new',
    });
    expect(ticket.title).toContain(facility.name);
    expect(ticket.respond_by).not.toBeNull();
    const f = await t.db.selectFrom('facilities').select('status').where('id', '=', facility.id).executeTakeFirstOrThrow();
    expect(f.status).toBe('faulty');
    const audit = await t.db.selectFrom('audit_events').selectAll().where('entity_id', '=', ticket.id).where('action', '=', 'ticket.created').executeTakeFirstOrThrow();
    expect(audit.actor_user_id).toBeNull();
    expect(JSON.stringify(audit.after)).not.toContain('13812345678');

    // Owners of the community see the public ticket with the phone masked.
    const owner = as(t.app, w.a.users.owner.id);
    const detail = await owner({ method: 'GET', url: `${API}/tickets/${ticket.id}` });
    expect(detail.statusCode, detail.body).toBe(200);
    expect(detail.json().reporter.phone).toBe('138****5678');
    expect(detail.body).not.toContain('13812345678');
    const list = await owner({ method: 'GET', url: `${API}/tickets?facilityId=${facility.id}` });
    expect(list.json().items.map((x: { id: string }) => x.id)).toEqual([ticket.id]);
    expect(list.body).not.toContain('13812345678');
  });

  it('answers an unknown, malformed or retired token with the same 404', async () => {
    const unknown = await report(randomBytes(18).toString('base64url'), valid());
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'Facility not found' } });
    for (const token of ['x', '..%2F..%2Fetc', "' OR 1=1 --", 'a'.repeat(80), '同一个']) {
      const res = await report(token, valid());
      expect(res.statusCode, token).toBe(404);
      expect(res.json(), token).toEqual(unknown.json());
      const get = await anonymous({ method: 'GET', url: `${API}/public/facilities/${encodeURIComponent(token)}`, remoteAddress: freshAddress() });
      expect(get.statusCode, token).toBe(404);
      expect(get.json(), token).toEqual(unknown.json());
    }
    const retired = await makeFacility(t.db, w.a.community.id);
    await t.db.updateTable('facilities').set({ status: 'decommissioned' }).where('id', '=', retired.id).execute();
    const res = await report(retired.qr_token, valid());
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual(unknown.json());
  });

  it('rate-limits per client address and facility code (429 RATE_LIMITED)', async () => {
    const facility = await makeFacility(t.db, w.a.community.id, 'lighting');
    const other = await makeFacility(t.db, w.a.community.id, 'lighting');
    const address = freshAddress();
    for (let i = 0; i < REPORT_LIMIT; i++) {
      const res = await report(facility.qr_token, valid(), address);
      expect(res.statusCode, res.body).toBe(201);
    }
    const before = await count('tickets');
    const limited = await report(facility.qr_token, valid(), address);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    expect(await count('tickets')).toBe(before);
    // Another address for the same code, and the same address for another code, still report.
    expect((await report(facility.qr_token, valid(), freshAddress())).statusCode).toBe(201);
    expect((await report(other.qr_token, valid(), address)).statusCode).toBe(201);
  });

  it('refuses hostile input with 400 and stores nothing', async () => {
    const facility = await makeFacility(t.db, w.a.community.id);
    const cases: Array<[string, unknown]> = [
      ['oversized description', { ...valid(), description: '坏'.repeat(2001) }],
      ['blank description', { ...valid(), description: '   ' }],
      ['bad phone', { ...valid(), reporterPhone: 'call me maybe' }],
      ['markup phone', { ...valid(), reporterPhone: '<script>alert(1)</script>' }],
      ['long name', { ...valid(), reporterName: 'n'.repeat(51) }],
      ['missing name', { description: 'x', reporterPhone: '13812345678' }],
      ['extra field', { ...valid(), priority: 'P1' }],
      ['smuggled internals', { ...valid(), isPublic: false, communityId: w.b.community.id }],
      ['wrong type', { ...valid(), description: 42 }],
      ['long title', { ...valid(), title: 't'.repeat(201) }],
      ['not an object', ['description']],
    ];
    const tickets = await count('tickets');
    const events = await count('audit_events');
    for (const [what, payload] of cases) {
      const res = await report(facility.qr_token, payload);
      expect(res.statusCode, what).toBe(400);
      expect(res.json().error.code, what).toBe('VALIDATION_ERROR');
    }
    const bad = await anonymous({ method: 'POST', url: `${API}/public/facilities/${facility.qr_token}/reports`, remoteAddress: freshAddress(), headers: { 'content-type': 'application/json' }, payload: '{"description":' });
    expect(bad.statusCode).toBe(400);
    expect(await count('tickets')).toBe(tickets);
    expect(await count('audit_events')).toBe(events);
    const f = await t.db.selectFrom('facilities').select('status').where('id', '=', facility.id).executeTakeFirstOrThrow();
    expect(f.status).toBe('operational');
  });
});

describe('devices and alarms', () => {
  const register = (userId: string, facilityId: string, name = `烟感-${uniq()}`) => as(t.app, userId)({ method: 'POST', url: `${API}/facilities/${facilityId}/devices`, payload: { name } });
  const alarm = (headers: Record<string, string>, payload: object) => anonymous({ method: 'POST', url: `${API}/devices/alarms`, headers, payload });
  const auth = (d: { deviceId: string; secret: string }) => ({ 'x-device-id': d.deviceId, 'x-device-secret': d.secret });

  async function newDevice(facilityId = w.a.facility.id) {
    const res = await register(w.a.users.propertyManager.id, facilityId);
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { deviceId: string; secret: string };
  }

  it('registers a device with a secret shown once and kept only as its hash', async () => {
    const facility = await makeFacility(t.db, w.a.community.id, 'smoke_detector');
    const res = await register(w.a.users.technician.id, facility.id, '3栋烟感');
    expect(res.statusCode, res.body).toBe(201);
    const { deviceId, secret } = res.json();
    expect(Object.keys(res.json()).sort()).toEqual(['deviceId', 'secret']);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    const row = await t.db.selectFrom('devices').selectAll().where('id', '=', deviceId).executeTakeFirstOrThrow();
    expect(row.secret_hash).toBe(sha256(secret));
    expect(JSON.stringify(row)).not.toContain(secret);

    const list = await as(t.app, w.a.users.propertyManager.id)({ method: 'GET', url: `${API}/facilities/${facility.id}/devices` });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().items).toEqual([expect.objectContaining({ id: deviceId, facilityId: facility.id, name: '3栋烟感', disabled: false })]);
    expect(list.body).not.toContain(secret);
    expect(list.body).not.toContain(row.secret_hash);
    const events = await t.db.selectFrom('audit_events').selectAll().where('entity_id', '=', deviceId).execute();
    expect(events.map((e) => e.action)).toEqual(['device.registered']);
    expect(JSON.stringify(events)).not.toContain(secret);
    expect(JSON.stringify(events)).not.toContain(row.secret_hash);
  });

  it('lets only the facility’s managers register, list and disable devices', async () => {
    const devices = await count('devices');
    expect((await register(w.a.users.owner.id, w.a.facility.id)).statusCode).toBe(403);
    expect((await register(w.a.users.committeeMember.id, w.a.facility.id)).statusCode).toBe(403);
    expect((await register(w.b.users.propertyManager.id, w.a.facility.id)).statusCode).toBe(404);
    expect((await anonymous({ method: 'POST', url: `${API}/facilities/${w.a.facility.id}/devices`, payload: { name: 'x' } })).statusCode).toBe(401);
    expect((await as(t.app, w.b.users.propertyManager.id)({ method: 'GET', url: `${API}/facilities/${w.a.facility.id}/devices` })).statusCode).toBe(404);
    expect((await register(w.a.users.propertyManager.id, w.a.facility.id, '')).statusCode).toBe(400);
    expect(await count('devices')).toBe(devices);

    const d = await newDevice();
    const disable = (userId: string) => as(t.app, userId)({ method: 'POST', url: `${API}/devices/${d.deviceId}/disable` });
    expect((await disable(w.b.users.propertyManager.id)).statusCode).toBe(404);
    expect((await disable(w.a.users.owner.id)).statusCode).toBe(403);
    expect((await as(t.app, w.a.users.propertyManager.id)({ method: 'POST', url: `${API}/devices/${randomUUID()}/disable` })).statusCode).toBe(404);
    const ok = await disable(w.a.users.propertyManager.id);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ id: d.deviceId, disabled: true });
  });

  it('refuses a wrong secret, an unknown or disabled device with 401 and stores nothing', async () => {
    const d = await newDevice();
    const disabled = await newDevice();
    await as(t.app, w.a.users.propertyManager.id)({ method: 'POST', url: `${API}/devices/${disabled.deviceId}/disable` });
    const payload = { dedupeKey: `smoke-${uniq()}` };
    const tickets = await count('tickets');
    const events = await count('audit_events');
    const attempts: Array<[string, Record<string, string>]> = [
      ['wrong secret', { 'x-device-id': d.deviceId, 'x-device-secret': randomBytes(32).toString('base64url') }],
      ['another device’s secret', { 'x-device-id': d.deviceId, 'x-device-secret': disabled.secret }],
      ['secret of the hash', { 'x-device-id': d.deviceId, 'x-device-secret': sha256(d.secret) }],
      ['unknown device', { 'x-device-id': randomUUID(), 'x-device-secret': d.secret }],
      ['malformed id', { 'x-device-id': 'not-a-uuid', 'x-device-secret': d.secret }],
      ['no secret', { 'x-device-id': d.deviceId }],
      ['no headers', {}],
      ['disabled device', auth(disabled)],
      ['a user token instead', { authorization: `Bearer ${t.app.jwt.sign({ sub: w.a.users.propertyManager.id, typ: 'access' })}` }],
    ];
    for (const [what, headers] of attempts) {
      const res = await alarm(headers, payload);
      expect(res.statusCode, what).toBe(401);
      expect(res.json().error.code, what).toBe('DEVICE_UNAUTHORIZED');
    }
    // Authentication comes before the body is even looked at.
    expect((await alarm({ 'x-device-id': d.deviceId, 'x-device-secret': 'wrong' }, { bogus: true })).statusCode).toBe(401);
    expect(await count('tickets')).toBe(tickets);
    expect(await count('audit_events')).toBe(events);
  });

  it('opens an alarm ticket, adds repeats to it while open, and opens a new one once resolved', async () => {
    const d = await newDevice();
    const key = `camera-offline-${uniq()}`;
    const first = await alarm(auth(d), { dedupeKey: key, title: '南门摄像机离线', occurredAt: new Date().toISOString() });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ created: true, alarmCount: 1 });
    const ticketId = first.json().ticketId;
    const ticket = await t.db.selectFrom('tickets').selectAll().where('id', '=', ticketId).executeTakeFirstOrThrow();
    expect(ticket).toMatchObject({ kind: 'alarm', channel: 'device', priority: 'P2', facility_id: w.a.facility.id, category: 'camera', dedupe_key: key, alarm_count: 1, title: '南门摄像机离线' });
    expect(first.json().ref).toBe(ticket.ref);

    // The same alarm replayed with the right secret adds to the open ticket.
    const again = await alarm(auth(d), { dedupeKey: key });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual({ ticketId, ref: ticket.ref, created: false, alarmCount: 2 });
    const repeated = await t.db.selectFrom('audit_events').select(['action', 'actor_user_id']).where('entity_id', '=', ticketId).where('action', '=', 'ticket.alarm_repeated').execute();
    expect(repeated).toEqual([{ action: 'ticket.alarm_repeated', actor_user_id: null }]);

    // Another key is another fault.
    const other = await alarm(auth(d), { dedupeKey: `${key}-b`, priority: 'P1' });
    expect(other.statusCode).toBe(201);
    expect(other.json().ticketId).not.toBe(ticketId);

    const pm = as(t.app, w.a.users.propertyManager.id);
    for (const to of ['acknowledged', 'in_progress', 'resolved']) {
      const moved = await pm({ method: 'POST', url: `${API}/tickets/${ticketId}/transitions`, payload: { to } });
      expect(moved.statusCode, moved.body).toBe(200);
    }
    const afterResolve = await alarm(auth(d), { dedupeKey: key });
    expect(afterResolve.statusCode, afterResolve.body).toBe(201);
    expect(afterResolve.json()).toMatchObject({ created: true, alarmCount: 1 });
    expect(afterResolve.json().ticketId).not.toBe(ticketId);
    const old = await t.db.selectFrom('tickets').select(['alarm_count', 'status']).where('id', '=', ticketId).executeTakeFirstOrThrow();
    expect(old).toEqual({ alarm_count: 2, status: 'resolved' });
  });

  it('refuses bad alarm bodies from a real device with 400', async () => {
    const d = await newDevice();
    const tickets = await count('tickets');
    for (const payload of [{}, { dedupeKey: '' }, { dedupeKey: 'k'.repeat(201) }, { dedupeKey: 'k', priority: 'P9' }, { dedupeKey: 'k', occurredAt: 'yesterday' }, { dedupeKey: 'k', facilityId: w.b.facility.id }]) {
      const res = await alarm(auth(d), payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(await count('tickets')).toBe(tickets);
  });

  it('makes one ticket of 20 concurrent identical alarms, counting all 20', async () => {
    const facility = await makeFacility(t.db, w.a.community.id, 'hydrant_pressure');
    const d = await newDevice(facility.id);
    const key = `pressure-low-${uniq()}`;
    const results = await Promise.all(Array.from({ length: 20 }, () => alarm(auth(d), { dedupeKey: key, description: '消防管网压力低' })));
    for (const r of results) expect([200, 201], r.body).toContain(r.statusCode);
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
    const tickets = await t.db.selectFrom('tickets').selectAll().where('dedupe_key', '=', key).execute();
    expect(tickets).toHaveLength(1);
    expect(tickets[0]?.alarm_count).toBe(20);
    expect(new Set(results.map((r) => r.json().ticketId))).toEqual(new Set([tickets[0]?.id]));
    expect(results.map((r) => r.json().alarmCount).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const verify = await as(t.app, w.a.users.propertyManager.id)({ method: 'GET', url: `${API}/audit/communities/${w.a.community.id}/verify` });
    expect(verify.json().ok).toBe(true);
  });

  it('rate-limits each device on its own; wrong secrets do not spend a device’s budget', async () => {
    const d = await newDevice();
    const neighbour = await newDevice();
    for (let i = 0; i < 5; i++) expect((await alarm({ 'x-device-id': d.deviceId, 'x-device-secret': 'guess' }, { dedupeKey: 'k' })).statusCode).toBe(401);
    const key = `door-${uniq()}`;
    for (let i = 0; i < ALARM_LIMIT; i++) {
      const res = await alarm(auth(d), { dedupeKey: key });
      expect(res.statusCode, `alarm ${i + 1}: ${res.body}`).toBe(i === 0 ? 201 : 200);
    }
    const limited = await alarm(auth(d), { dedupeKey: key });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    const row = await t.db.selectFrom('tickets').select('alarm_count').where('dedupe_key', '=', key).executeTakeFirstOrThrow();
    expect(row.alarm_count).toBe(ALARM_LIMIT);
    expect((await alarm(auth(neighbour), { dedupeKey: key })).statusCode).toBe(200);
  });
});

describe('ticket attachments', () => {
  // A real 1×1 PNG and a real (tiny) PDF.
  const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  const PDF = Buffer.from(
    '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
    'latin1',
  );
  const upload = (userId: string, ticketId: string, parts: Part[]) => as(t.app, userId)({ method: 'POST', url: `${API}/tickets/${ticketId}/attachments`, ...multipart(parts) });
  const file = (data: Buffer | string, filename: string, type: string): Part => ({ name: 'file', filename, type, data });

  async function filesUnder(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
  }

  let ownerTicket: string;
  let publicTicket: string;
  beforeAll(async () => {
    const owner = as(t.app, w.a.users.owner.id);
    const mine = await owner({ method: 'POST', url: `${API}/tickets`, payload: { communityId: w.a.community.id, title: '卫生间漏水', isPublic: false, category: 'drainage' } });
    expect(mine.statusCode, mine.body).toBe(201);
    ownerTicket = mine.json().id;
    const pub = await as(t.app, w.a.users.propertyManager.id)({ method: 'POST', url: `${API}/tickets`, payload: { communityId: w.a.community.id, title: '路灯不亮', category: 'lighting' } });
    expect(pub.statusCode, pub.body).toBe(201);
    publicTicket = pub.json().id;
  });

  it('accepts a real PNG and PDF, stored at server-chosen paths with matching sha256, and serves the same bytes back', async () => {
    const png = await upload(w.a.users.owner.id, ownerTicket, [file(PNG, '漏水照片.png', 'image/png')]);
    expect(png.statusCode, png.body).toBe(201);
    expect(png.json()).toMatchObject({ ticketId: ownerTicket, originalName: '漏水照片.png', mimeType: 'image/png', sizeBytes: PNG.length, sha256: sha256(PNG), uploadedBy: w.a.users.owner.id });
    const pdf = await upload(w.a.users.propertyManager.id, ownerTicket, [{ name: 'note', data: 'ignored' }, file(PDF, 'quote.pdf', 'application/octet-stream')]);
    expect(pdf.statusCode, pdf.body).toBe(201);
    expect(pdf.json()).toMatchObject({ mimeType: 'application/pdf', sizeBytes: PDF.length, sha256: sha256(PDF) });

    for (const [res, bytes, ext] of [[png, PNG, 'png'], [pdf, PDF, 'pdf']] as const) {
      const row = await t.db.selectFrom('ticket_attachments').selectAll().where('id', '=', res.json().id).executeTakeFirstOrThrow();
      expect(row.storage_key).toMatch(new RegExp(`^\\d{4}/\\d{2}/[0-9a-f-]{36}\\.${ext}$`));
      const onDisk = await readFile(join(uploadDir, row.storage_key));
      expect(onDisk.equals(bytes)).toBe(true);
      expect(sha256(onDisk)).toBe(row.sha256);

      const download = await as(t.app, w.a.users.owner.id)({ method: 'GET', url: `${API}/tickets/${ownerTicket}/attachments/${row.id}` });
      expect(download.statusCode, download.body).toBe(200);
      expect(download.headers['content-type']).toBe(row.mime_type);
      expect(String(download.headers['content-disposition'])).toMatch(/^attachment; /);
      expect(download.headers['x-content-type-options']).toBe('nosniff');
      expect(download.rawPayload.equals(bytes)).toBe(true);
    }
    const disposition = (await as(t.app, w.a.users.owner.id)({ method: 'GET', url: `${API}/tickets/${ownerTicket}/attachments/${png.json().id}` })).headers['content-disposition'];
    expect(disposition).toBe(`attachment; filename="____.png"; filename*=UTF-8''${encodeURIComponent('漏水照片.png')}`);

    const list = await as(t.app, w.a.users.propertyManager.id)({ method: 'GET', url: `${API}/tickets/${ownerTicket}/attachments` });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((a: { id: string }) => a.id)).toEqual([png.json().id, pdf.json().id]);
    expect(list.body).not.toContain('storage');
    // Nothing half-written is left behind.
    expect((await filesUnder(uploadDir)).filter((f) => f.startsWith('.tmp'))).toEqual([]);
  });

  it('keeps a path-traversal file name only as a sanitised label', async () => {
    const res = await upload(w.a.users.owner.id, ownerTicket, [file(PNG, '../../etc/passwd.png', 'image/png')]);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().originalName).toBe('passwd.png');
    const row = await t.db.selectFrom('ticket_attachments').selectAll().where('id', '=', res.json().id).executeTakeFirstOrThrow();
    expect(row.storage_key).toMatch(/^\d{4}\/\d{2}\/[0-9a-f-]{36}\.png$/);
    expect(resolve(uploadDir, row.storage_key).startsWith(resolve(uploadDir))).toBe(true);
    expect(existsSync(resolve(uploadDir, '../../etc/passwd.png'))).toBe(false);
    expect(existsSync(resolve(uploadDir, '..', 'passwd.png'))).toBe(false);

    const odd = await upload(w.a.users.owner.id, ownerTicket, [file(PNG, '..\\..\\windows\\\u202Egnp.exe\u0007.png', 'image/png')]);
    expect(odd.statusCode, odd.body).toBe(201);
    expect(odd.json().originalName).toBe('gnp.exe.png');
  });

  it('refuses content that is not what it claims (415), oversized files (413) and missing files (400), storing nothing', async () => {
    const rows = await count('ticket_attachments');
    const events = await count('audit_events');
    const files = await filesUnder(uploadDir);
    const refused: Array<[string, Part[], number]> = [
      ['text named .png', [file('just some text, honest\n', 'photo.png', 'image/png')], 415],
      ['HTML declared image/png', [file('<html><script>alert(document.cookie)</script></html>', 'x.png', 'image/png')], 415],
      ['PNG declared application/pdf', [file(PNG, 'x.pdf', 'application/pdf')], 415],
      ['PNG declared a PDF by name only', [file(PNG, 'invoice.pdf', 'application/octet-stream')], 415],
      ['PDF declared image/jpeg', [file(PDF, 'x.jpg', 'image/jpeg')], 415],
      ['PNG named .html', [file(PNG, 'page.html', 'application/octet-stream')], 415],
      ['SVG (script-capable image)', [file('<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>', 'a.svg', 'image/svg+xml')], 415],
      ['GIF', [file(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'), 'a.gif', 'image/gif')], 415],
      ['oversized PNG', [file(Buffer.concat([PNG, randomBytes(UPLOAD_MAX + 1024)]), 'big.png', 'image/png')], 413],
      ['oversized text', [file(Buffer.alloc(UPLOAD_MAX * 2, 0x41), 'big.txt', 'text/plain')], 413],
      ['two files (one per request)', [file(PNG, 'a.png', 'image/png'), file(PNG, 'b.png', 'image/png')], 413],
      ['no file part', [{ name: 'comment', data: 'forgot the photo' }], 400],
      ['empty file part (a form sent with no file chosen)', [file(Buffer.alloc(0), '', 'application/octet-stream')], 400],
    ];
    for (const [what, parts, status] of refused) {
      const res = await upload(w.a.users.owner.id, ownerTicket, parts);
      expect(res.statusCode, `${what}: ${res.body}`).toBe(status);
      expect(res.json().error.code, what).toBe(status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : status === 413 ? 'PAYLOAD_TOO_LARGE' : 'VALIDATION_ERROR');
    }
    const json = await as(t.app, w.a.users.owner.id)({ method: 'POST', url: `${API}/tickets/${ownerTicket}/attachments`, payload: { file: PNG.toString('base64') } });
    expect(json.statusCode).toBe(415);
    const { payload, headers } = multipart([file(PNG, 'a.png', 'image/png')]);
    const truncated = await as(t.app, w.a.users.owner.id)({ method: 'POST', url: `${API}/tickets/${ownerTicket}/attachments`, headers, payload: payload.subarray(0, payload.length - 20) });
    expect(truncated.statusCode, truncated.body).toBe(400);
    expect(await count('ticket_attachments')).toBe(rows);
    expect(await count('audit_events')).toBe(events);
    expect((await filesUnder(uploadDir)).sort()).toEqual(files.sort());
  });

  it('answers 404 to another community’s users and to an owner who may not see a private ticket, 403 to a read-only one', async () => {
    const [existing] = await t.db.selectFrom('ticket_attachments').select('id').where('ticket_id', '=', ownerTicket).limit(1).execute();
    expect(existing).toBeDefined();
    const rows = await count('ticket_attachments');
    const stranger = w.b.users.propertyManager.id;
    const neighbourUser = await makeUser(t.db);
    await makeUnit(t.db, w.a.community.id, w.a.building.id, { ownerUserId: neighbourUser.id });
    for (const userId of [stranger, w.b.users.owner.id, neighbourUser.id]) {
      const up = await upload(userId, ownerTicket, [file(PNG, 'x.png', 'image/png')]);
      expect(up.statusCode, up.body).toBe(404);
      expect(up.json().error.code).toBe('NOT_FOUND');
      expect((await as(t.app, userId)({ method: 'GET', url: `${API}/tickets/${ownerTicket}/attachments` })).statusCode).toBe(404);
      const down = await as(t.app, userId)({ method: 'GET', url: `${API}/tickets/${ownerTicket}/attachments/${existing?.id}` });
      expect(down.statusCode).toBe(404);
      expect(down.body).not.toContain('PNG');
    }
    // The neighbour reads the public ticket but may not add files to it.
    expect((await upload(neighbourUser.id, publicTicket, [file(PNG, 'x.png', 'image/png')])).statusCode).toBe(403);
    expect((await as(t.app, neighbourUser.id)({ method: 'GET', url: `${API}/tickets/${publicTicket}/attachments` })).statusCode).toBe(200);
    // An attachment id under another ticket is not found there.
    expect((await as(t.app, w.a.users.propertyManager.id)({ method: 'GET', url: `${API}/tickets/${publicTicket}/attachments/${existing?.id}` })).statusCode).toBe(404);
    expect((await anonymous({ method: 'GET', url: `${API}/tickets/${ownerTicket}/attachments/${existing?.id}` })).statusCode).toBe(401);
    expect((await anonymous({ method: 'POST', url: `${API}/tickets/${ownerTicket}/attachments`, ...multipart([file(PNG, 'x.png', 'image/png')]) })).statusCode).toBe(401);
    expect(await count('ticket_attachments')).toBe(rows);
  });

  it('keeps the audit chain intact', async () => {
    const verify = await as(t.app, w.a.users.propertyManager.id)({ method: 'GET', url: `${API}/audit/communities/${w.a.community.id}/verify` });
    expect(verify.json().ok).toBe(true);
    const added = await t.db.selectFrom('audit_events').select('action').where('entity_id', '=', ownerTicket).where('action', '=', 'ticket.attachment_added').execute();
    expect(added.length).toBeGreaterThanOrEqual(4);
  });
});
