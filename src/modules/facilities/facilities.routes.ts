import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { decodeCursor, toPage } from '../../lib/pagination.js';
import { IdParams, ListQuery, Page, authErrors, errors } from '../../lib/schemas.js';
import { requireActor, requireCommunity } from '../../plugins/access.js';
import { CreateFacilityBody, Facility, FacilityListQuery, UpdateFacilityBody } from './facilities.schemas.js';
import * as service from './facilities.service.js';

const facilityRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.post(
    '/communities/:id/facilities',
    {
      schema: {
        tags: ['facilities'],
        summary: 'Register a facility or device (gets an unguessable QR token)',
        security,
        params: IdParams,
        body: CreateFacilityBody,
        response: { 201: Facility, ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      const access = await requireCommunity(db, request, request.params.id, 'facilities.manage');
      const f = await service.createFacility(db, requireActor(request), request.params.id, request.body);
      return reply.status(201).send(service.toFacilityDto(f, access));
    },
  );

  app.get(
    '/communities/:id/facilities',
    {
      schema: {
        tags: ['facilities'],
        summary: 'Facilities of a community',
        security,
        params: IdParams,
        querystring: ListQuery(FacilityListQuery.properties),
        response: { 200: Page(Facility), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const access = await requireCommunity(db, request, request.params.id);
      const limit = request.query.limit ?? 50;
      const rows = await service.listFacilities(db, request.params.id, { ...request.query, cursor: decodeCursor(request.query.cursor), limit });
      return toPage(rows, limit, (f) => service.toFacilityDto(f, access));
    },
  );

  app.get(
    '/facilities/:id',
    { schema: { tags: ['facilities'], summary: 'One facility', security, params: IdParams, response: { 200: Facility, ...errors(...authErrors) } } },
    async (request) => {
      const f = await service.getFacility(db, request.params.id);
      const access = await requireCommunity(db, request, f.community_id, 'community.read', 'Facility');
      return service.toFacilityDto(f, access);
    },
  );

  app.patch(
    '/facilities/:id',
    {
      schema: {
        tags: ['facilities'],
        summary: 'Rename, move or change the status of a facility',
        security,
        params: IdParams,
        body: UpdateFacilityBody,
        response: { 200: Facility, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const f = await service.getFacility(db, request.params.id);
      const access = await requireCommunity(db, request, f.community_id, 'facilities.manage', 'Facility');
      return service.toFacilityDto(await service.updateFacility(db, requireActor(request), f.id, request.body), access);
    },
  );
};

export default facilityRoutes;
