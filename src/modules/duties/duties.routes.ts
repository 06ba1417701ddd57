import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DUTY_BASES, FACILITY_CATEGORIES } from '../../db/types.js';
import { IdParams, StringEnum, Timestamp, Uuid, authErrors, errors } from '../../lib/schemas.js';
import { requireActor, requireCommunity } from '../../plugins/access.js';
import { notFound } from '../../lib/errors.js';
import * as service from './duties.service.js';

const Duty = Type.Object({
  id: Uuid,
  communityId: Uuid,
  organizationId: Uuid,
  organizationName: Type.String(),
  organizationKind: Type.String(),
  facilityCategory: Type.Union([Type.String(), Type.Null()]),
  basis: StringEnum(DUTY_BASES),
  validFrom: Timestamp,
  validTo: Type.Union([Timestamp, Type.Null()]),
  active: Type.Boolean(),
});

const DutyHolder = Type.Object({
  communityId: Uuid,
  category: Type.Union([Type.String(), Type.Null()]),
  gap: Type.Boolean({ description: 'Nobody holds this duty: not even a committee' }),
  holder: Type.Union([
    Type.Object({
      source: StringEnum(['assignment', 'fallback'] as const, { description: 'An assignment, or the committee fallback' }),
      organizationId: Uuid,
      organizationName: Type.String(),
      organizationKind: Type.String(),
      basis: Type.Optional(StringEnum(DUTY_BASES)),
      assignmentId: Type.Optional(Uuid),
      validTo: Type.Optional(Type.Union([Timestamp, Type.Null()])),
    }),
    Type.Null(),
  ]),
});

const dutyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.post(
    '/communities/:id/duties',
    {
      schema: {
        tags: ['duties'],
        summary: 'Assign a duty: who must keep the community (or one facility category) running',
        description:
          'Bases: service_contract (a property company), delegated_contractor (a contractor; property managers may only do this), fallback_committee (a committee of this community). Reminders go to the holder’s managers and the owners’ committee 30 and 7 days before validTo.',
        security,
        params: IdParams,
        body: Type.Object(
          {
            organizationId: Uuid,
            basis: StringEnum(DUTY_BASES),
            facilityCategory: Type.Optional(Type.Union([StringEnum(FACILITY_CATEGORIES), Type.Null()])),
            validFrom: Type.Optional(Timestamp),
            validTo: Type.Optional(Type.Union([Timestamp, Type.Null()])),
          },
          { additionalProperties: false },
        ),
        response: { 201: Duty, ...errors(...authErrors, 422) },
      },
    },
    async (request, reply) => {
      const access = await requireCommunity(db, request, request.params.id, 'duties.manage');
      const duty = await service.assignDuty(db, requireActor(request), access, request.params.id, request.body);
      return reply.status(201).send(service.toDutyDto({ ...duty, community_id: duty.community_id }));
    },
  );

  app.get(
    '/communities/:id/duties',
    {
      schema: {
        tags: ['duties'],
        summary: 'Duty assignments of a community, newest first (active and past)',
        security,
        params: IdParams,
        response: { 200: Type.Object({ items: Type.Array(Duty) }), ...errors(...authErrors) },
      },
    },
    async (request) => {
      await requireCommunity(db, request, request.params.id);
      const rows = await service.listDuties(db, request.params.id);
      return { items: rows.map((r) => service.toDutyDto(r)) };
    },
  );

  app.patch(
    '/duties/:id',
    {
      schema: {
        tags: ['duties'],
        summary: 'End or extend a duty (its reminders follow)',
        security,
        params: IdParams,
        body: Type.Object({ validTo: Type.Union([Timestamp, Type.Null()]) }, { additionalProperties: false }),
        response: { 200: Duty, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const duty = await service.findDuty(db, request.params.id);
      if (!duty) throw notFound('Duty assignment');
      const access = await requireCommunity(db, request, duty.community_id, 'duties.manage', 'Duty assignment');
      await service.changeDutyEnd(db, requireActor(request), access, duty.id, request.body.validTo ? new Date(request.body.validTo) : null);
      const row = (await service.listDuties(db, duty.community_id)).find((r) => r.id === duty.id);
      return service.toDutyDto(row as NonNullable<typeof row>);
    },
  );

  app.get(
    '/communities/:id/duty-holder',
    {
      schema: {
        tags: ['duties'],
        summary: 'Who holds the duty for a facility category now (most specific assignment, else the committee fallback)',
        security,
        params: IdParams,
        querystring: Type.Object({ category: Type.Optional(StringEnum(FACILITY_CATEGORIES)) }),
        response: { 200: DutyHolder, ...errors(...authErrors) },
      },
    },
    async (request) => {
      await requireCommunity(db, request, request.params.id);
      const category = request.query.category ?? null;
      const holder = await service.dutyHolder(db, request.params.id, category);
      return {
        communityId: request.params.id,
        category,
        gap: holder === null,
        holder:
          holder === null
            ? null
            : holder.source === 'assignment'
              ? { source: holder.source, organizationId: holder.organizationId, organizationName: holder.organizationName, organizationKind: holder.organizationKind, basis: holder.basis, assignmentId: holder.assignmentId, validTo: holder.validTo ? holder.validTo.toISOString() : null }
              : { source: holder.source, organizationId: holder.organizationId, organizationName: holder.organizationName, organizationKind: holder.organizationKind },
      };
    },
  );

  app.get(
    '/reports/duty-gaps',
    {
      schema: {
        tags: ['duties'],
        summary: 'Communities I may see where nobody holds the duty (not even a committee)',
        security,
        response: { 200: Type.Object({ items: Type.Array(Type.Object({ communityId: Uuid, name: Type.String(), district: Type.String() })) }), ...errors(...authErrors) },
      },
    },
    async (request) => ({ items: await service.dutyGaps(db, requireActor(request)) }),
  );
};

export default dutyRoutes;
