import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { AppError, notFound } from '../../lib/errors.js';
import { decodeCursor, toPage } from '../../lib/pagination.js';
import { IdParams, Page, PageQuery, StringEnum, Timestamp, Uuid, authErrors, errors } from '../../lib/schemas.js';
import { requireActor, requireCommunity } from '../../plugins/access.js';
import { PRIORITIES } from '../tickets/sla.js';
import { getFacility } from '../facilities/facilities.service.js';
import * as service from './devices.service.js';

const Device = Type.Object({
  id: Uuid,
  facilityId: Uuid,
  name: Type.String(),
  disabled: Type.Boolean(),
  disabledAt: Type.Union([Timestamp, Type.Null()]),
  createdAt: Timestamp,
});

const RegisterDeviceBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }) }, { additionalProperties: false });

const RegisteredDevice = Type.Object({
  deviceId: Uuid,
  secret: Type.String({ description: 'Shown this once: only its hash is kept. Send it as x-device-secret with x-device-id.' }),
});

const AlarmBody = Type.Object(
  {
    dedupeKey: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S', description: 'Repeats of an alarm with this key add to its open ticket instead of opening another' }),
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' })),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    priority: Type.Optional(StringEnum(PRIORITIES, { description: 'Default P2' })),
    occurredAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

const AlarmResult = Type.Object({
  ticketId: Uuid,
  ref: Type.Integer(),
  created: Type.Boolean(),
  alarmCount: Type.Integer(),
});

const DeviceHeaders = Type.Object({
  'x-device-id': Type.Optional(Type.String({ description: 'The device id given at registration' })),
  'x-device-secret': Type.Optional(Type.String({ description: 'The device secret given at registration' })),
});

/** The device each alarm request authenticated as (set by the route's onRequest hook). */
const authenticated = new WeakMap<FastifyRequest, service.AuthenticatedDevice>();
const header = (request: FastifyRequest, name: string) => {
  const v = request.headers[name];
  return typeof v === 'string' ? v : undefined;
};

const deviceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app.deps;
  const security = [{ bearerAuth: [] }];

  /** The facility, if the actor may manage its community's facilities (404 when not visible, else 403). */
  const manageableFacility = async (request: FastifyRequest, facilityId: string) => {
    const f = await getFacility(db, facilityId);
    await requireCommunity(db, request, f.community_id, 'facilities.manage', 'Facility');
    return f;
  };

  app.post(
    '/facilities/:id/devices',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['intake'],
        summary: 'Register a device that raises alarms for this facility (its secret is shown once)',
        description: 'One device, one account: each device gets its own id and secret; the secret is stored only as a sha256 hash.',
        security,
        params: IdParams,
        body: RegisterDeviceBody,
        response: { 201: RegisteredDevice, ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      const f = await manageableFacility(request, request.params.id);
      const { device, secret } = await service.registerDevice(db, requireActor(request), f, request.body.name);
      return reply.status(201).send({ deviceId: device.id, secret });
    },
  );

  app.get(
    '/facilities/:id/devices',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['intake'],
        summary: 'Devices of a facility (never their secrets)',
        security,
        params: IdParams,
        querystring: PageQuery,
        response: { 200: Page(Device), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const f = await manageableFacility(request, request.params.id);
      const limit = request.query.limit ?? 50;
      const rows = await service.listDevices(db, f.id, { cursor: decodeCursor(request.query.cursor), limit });
      return toPage(rows, limit, service.toDeviceDto);
    },
  );

  app.post(
    '/devices/:id/disable',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['intake'],
        summary: 'Disable a device: its alarms are refused from now on',
        security,
        params: IdParams,
        response: { 200: Device, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const d = await service.getDevice(db, request.params.id);
      if (!d) throw notFound('Device');
      const f = await getFacility(db, d.facility_id);
      await requireCommunity(db, request, f.community_id, 'facilities.manage', 'Device');
      return service.toDeviceDto(await service.disableDevice(db, requireActor(request), d.id, f.community_id));
    },
  );

  app.post(
    '/devices/alarms',
    {
      // Device authentication first, then the per-device rate limit (its hook runs after this one),
      // so wrong secrets cannot spend a real device's budget.
      onRequest: async (request) => {
        authenticated.set(request, await service.authenticateDevice(db, header(request, 'x-device-id'), header(request, 'x-device-secret')));
      },
      config: {
        rateLimit: {
          max: config.deviceAlarmRateLimitPerMinute,
          timeWindow: '1 minute',
          keyGenerator: (request: FastifyRequest) => `device:${authenticated.get(request)?.id ?? request.ip}`,
          errorResponseBuilder: (_req: unknown, ctx: { after: string }) => new AppError(429, 'RATE_LIMITED', `Too many alarms from this device; try again in ${ctx.after}`),
        },
      },
      schema: {
        tags: ['intake'],
        summary: 'A device raises an alarm (device authentication, no user token)',
        description: `Authenticate with the headers x-device-id and x-device-secret (401 DEVICE_UNAUTHORIZED otherwise, nothing stored). A repeat of an alarm whose ticket is still open adds to that ticket (200, created: false); otherwise an alarm ticket opens for the device's facility (201). ${config.deviceAlarmRateLimitPerMinute} alarms a minute per device.`,
        headers: DeviceHeaders,
        body: AlarmBody,
        response: { 200: AlarmResult, 201: AlarmResult, ...errors(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const device = authenticated.get(request);
      if (!device) throw new AppError(401, 'DEVICE_UNAUTHORIZED', 'Device authentication failed');
      const result = await service.receiveAlarm(db, device, request.body);
      return reply.status(result.created ? 201 : 200).send(result);
    },
  );
};

export default deviceRoutes;
