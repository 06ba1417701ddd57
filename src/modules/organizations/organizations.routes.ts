import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { decodeCursor, toPage } from '../../lib/pagination.js';
import { IdParams, ListQuery, Page, authErrors, errors } from '../../lib/schemas.js';
import { requireActor } from '../../plugins/access.js';
import { AddMemberBody, CreateOrganizationBody, Member, Organization, OrganizationKind } from './organizations.schemas.js';
import * as service from './organizations.service.js';

const organizationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.post(
    '/organizations',
    {
      schema: {
        tags: ['organizations'],
        summary: 'Create an organization (platform administrators)',
        description: 'Committees need communityId; authorities need district.',
        security,
        body: CreateOrganizationBody,
        response: { 201: Organization, ...errors(...authErrors, 422) },
      },
    },
    async (request, reply) => {
      const org = await service.createOrganization(db, requireActor(request), request.body);
      return reply.status(201).send(service.toOrganizationDto(org));
    },
  );

  app.get(
    '/organizations',
    {
      schema: {
        tags: ['organizations'],
        summary: 'Organizations I belong to (all of them for platform administrators)',
        security,
        querystring: ListQuery({ kind: Type.Optional(OrganizationKind) }),
        response: { 200: Page(Organization), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const rows = await service.listOrganizations(db, requireActor(request), decodeCursor(request.query.cursor), limit, request.query.kind);
      return toPage(rows, limit, service.toOrganizationDto);
    },
  );

  app.get(
    '/organizations/:id',
    { schema: { tags: ['organizations'], summary: 'One organization', security, params: IdParams, response: { 200: Organization, ...errors(...authErrors) } } },
    async (request) => service.toOrganizationDto(await service.getOrganization(db, requireActor(request), request.params.id)),
  );

  app.get(
    '/organizations/:id/members',
    {
      schema: {
        tags: ['organizations'],
        summary: 'Members of an organization',
        security,
        params: IdParams,
        response: { 200: Type.Object({ items: Type.Array(Member) }), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const rows = await service.listMembers(db, requireActor(request), request.params.id);
      return { items: rows.map((m) => ({ userId: m.user_id, organizationId: m.organization_id, email: m.email, name: m.name, role: m.role })) };
    },
  );

  app.post(
    '/organizations/:id/members',
    {
      schema: {
        tags: ['organizations'],
        summary: 'Add a person to an organization (creating their account if they have none)',
        description: 'One person one account: an existing account with that email is reused. Roles depend on the organization kind.',
        security,
        params: IdParams,
        body: AddMemberBody,
        response: { 201: Member, ...errors(...authErrors, 409, 422) },
      },
    },
    async (request, reply) => reply.status(201).send(await service.addMember(db, requireActor(request), request.params.id, request.body)),
  );
};

export default organizationRoutes;
