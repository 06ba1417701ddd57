import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { decodeCursor, toPage } from '../../lib/pagination.js';
import { ListQuery, Page, authErrors, errors } from '../../lib/schemas.js';
import { requireActor, requireCommunity } from '../../plugins/access.js';
import { Building, Community, CommunityParams, CreateBuildingBody, CreateCommunityBody } from './communities.schemas.js';
import * as service from './communities.service.js';

const toBuildingDto = (b: { id: string; community_id: string; name: string; created_at: Date }) => ({
  id: b.id,
  communityId: b.community_id,
  name: b.name,
  createdAt: b.created_at.toISOString(),
});

const communityRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.post(
    '/communities',
    {
      schema: {
        tags: ['communities'],
        summary: 'Create a community',
        description: 'Platform administrators, or a property company manager (their company becomes the service-contract duty holder).',
        security,
        body: CreateCommunityBody,
        response: { 201: Community, ...errors(...authErrors, 422) },
      },
    },
    async (request, reply) => reply.status(201).send(service.toCommunityDto(await service.createCommunity(db, requireActor(request), request.body))),
  );

  app.get(
    '/communities',
    {
      schema: {
        tags: ['communities'],
        summary: 'Communities I may see',
        security,
        querystring: ListQuery({ district: Type.Optional(Type.String({ maxLength: 100 })) }),
        response: { 200: Page(Community), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await service.listCommunities(db, requireActor(request), decodeCursor(request.query.cursor), limit, request.query.district);
      return toPage(rows, limit, service.toCommunityDto);
    },
  );

  app.get(
    '/communities/:id',
    { schema: { tags: ['communities'], summary: 'One community', security, params: CommunityParams, response: { 200: Community, ...errors(...authErrors) } } },
    async (request) => {
      await requireCommunity(db, request, request.params.id);
      return service.toCommunityDto(await service.getCommunity(db, request.params.id));
    },
  );

  app.post(
    '/communities/:id/buildings',
    {
      schema: {
        tags: ['communities'],
        summary: 'Add a building',
        security,
        params: CommunityParams,
        body: CreateBuildingBody,
        response: { 201: Building, ...errors(...authErrors, 409) },
      },
    },
    async (request, reply) => {
      await requireCommunity(db, request, request.params.id, 'structure.manage');
      const b = await service.createBuilding(db, requireActor(request), request.params.id, request.body.name);
      return reply.status(201).send(toBuildingDto(b));
    },
  );

  app.get(
    '/communities/:id/buildings',
    {
      schema: {
        tags: ['communities'],
        summary: 'Buildings of a community',
        security,
        params: CommunityParams,
        response: { 200: Type.Object({ items: Type.Array(Building) }), ...errors(...authErrors) },
      },
    },
    async (request) => {
      await requireCommunity(db, request, request.params.id);
      return { items: (await service.listBuildings(db, request.params.id)).map(toBuildingDto) };
    },
  );
};

export default communityRoutes;
