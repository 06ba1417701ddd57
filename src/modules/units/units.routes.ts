import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError, badRequest, notFound } from '../../lib/errors.js';
import { parseHundredths } from '../../lib/decimal.js';
import { decodeCursor, encodeCursor } from '../../lib/pagination.js';
import { IdParams, ListQuery, Page, Uuid, authErrors, errors } from '../../lib/schemas.js';
import { communityAccess, requireActor, requireCommunity } from '../../plugins/access.js';
import { CreateUnitBody, ImportResult, Unit } from './units.schemas.js';
import * as service from './units.service.js';
import { MAX_AREA_CENTI_M2, MAX_IMPORT_ROWS } from './unit-rows.js';

const IMPORT_BODY_LIMIT = 20 * 1024 * 1024;

const unitRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];
  // The register arrives as the raw CSV text (UTF-8, with or without BOM).
  app.addContentTypeParser(['text/csv', 'application/csv'], { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT }, (_req, body, done) => done(null, body));

  app.post(
    '/communities/:id/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Add a unit (exclusive part) with its owners',
        security,
        params: IdParams,
        body: CreateUnitBody,
        response: { 201: Unit, ...errors(...authErrors, 409, 422) },
      },
    },
    async (request, reply) => {
      const access = await requireCommunity(db, request, request.params.id, 'structure.manage');
      const body = request.body;
      const area = parseHundredths(body.areaM2);
      const deposit = body.firstDeposit === undefined ? 0 : parseHundredths(body.firstDeposit);
      // Same code and details shape as a schema failure (plugins/errors.ts).
      const invalid = (field: string, message: string, detail: string) => new AppError(400, 'VALIDATION_ERROR', message, [{ field, in: 'body', message: detail }]);
      // Blank after trimming would otherwise reach the database's CHECK on units.number (a 500).
      const number = body.number.trim();
      if (!number) throw invalid('number', 'number must not be blank', 'must not be blank');
      const blankOwner = body.owners.findIndex((o) => !o.name.trim());
      if (blankOwner >= 0) throw invalid(`owners.${blankOwner}.name`, 'an owner name must not be blank', 'must not be blank');
      if (area === null || area <= 0 || area > MAX_AREA_CENTI_M2) {
        throw new AppError(400, 'VALIDATION_ERROR', 'areaM2 must be a positive number of m² with at most 2 decimals', [
          { field: 'areaM2', in: 'body', message: 'at most 2 decimals, greater than 0' },
        ]);
      }
      if (deposit === null) {
        throw new AppError(400, 'VALIDATION_ERROR', 'firstDeposit must be an amount in yuan with at most 2 decimals', [
          { field: 'firstDeposit', in: 'body', message: 'at most 2 decimals' },
        ]);
      }
      const unitId = await service.createUnit(db, requireActor(request), request.params.id, {
        buildingId: body.buildingId,
        number,
        areaCentiM2: area,
        firstDepositCents: deposit,
        owners: body.owners.map((o) => ({ name: o.name.trim(), phone: o.phone ?? null, email: o.email ?? null, isDeveloper: o.isDeveloper ?? false })),
      });
      const [unit] = await service.presentUnits(db, access, [await service.getUnit(db, unitId)]);
      return reply.status(201).send(unit as NonNullable<typeof unit>);
    },
  );

  app.post(
    '/communities/:id/units/import',
    {
      bodyLimit: IMPORT_BODY_LIMIT,
      schema: {
        tags: ['units'],
        summary: 'Import the unit register from CSV (all or nothing)',
        description: `Send the file as the body with Content-Type text/csv. Columns: building, unit number, area m², owner name, owner phone, owner email, first deposit (yuan), and optionally developer (yes/no). A header row (English or Chinese names) is recognised; without one the columns are taken in that order. Several rows for one unit list its co-owners. Every problem is reported with its row number and nothing is written unless every row is valid. At most ${MAX_IMPORT_ROWS} rows.`,
        security,
        params: IdParams,
        consumes: ['text/csv'],
        body: Type.String({ description: 'CSV text' }),
        response: { 201: ImportResult, ...errors(...authErrors, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      await requireCommunity(db, request, request.params.id, 'structure.manage');
      if (typeof request.body !== 'string') throw badRequest('Send the CSV file as the request body with Content-Type: text/csv');
      const result = await service.importUnits(db, requireActor(request), request.params.id, request.body);
      return reply.status(201).send(result);
    },
  );

  app.get(
    '/communities/:id/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Units of a community (owners see only their own)',
        security,
        params: IdParams,
        querystring: ListQuery({ buildingId: Type.Optional(Uuid) }),
        response: { 200: Page(Unit), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const access = await requireCommunity(db, request, request.params.id);
      const limit = request.query.limit ?? 50;
      const rows = await service.listUnits(db, access, actor, request.params.id, { cursor: decodeCursor(request.query.cursor), limit, buildingId: request.query.buildingId });
      const page = rows.slice(0, limit);
      const items = await service.presentUnits(db, access, page);
      await service.logPersonalDataRead(db, actor, access, request.params.id, page.map((u) => u.id));
      const last = page[page.length - 1];
      return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
    },
  );

  app.get(
    '/units/:id',
    { schema: { tags: ['units'], summary: 'One unit with its owners', security, params: IdParams, response: { 200: Unit, ...errors(...authErrors) } } },
    async (request) => {
      const actor = requireActor(request);
      const unit = await service.getUnit(db, request.params.id);
      const access = await communityAccess(db, actor, unit.community_id);
      const mayRead =
        access.can('owners.read') || access.stances.has('authority') || (access.stances.has('owner') && (await service.isOwnerOfUnit(db, actor.userId, unit.id)));
      if (!mayRead) throw notFound('Unit');
      const [item] = await service.presentUnits(db, access, [unit]);
      await service.logPersonalDataRead(db, actor, access, unit.community_id, [unit.id]);
      return item as NonNullable<typeof item>;
    },
  );
};

export default unitRoutes;
