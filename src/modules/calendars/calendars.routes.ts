import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IdParams, authErrors, errors } from '../../lib/schemas.js';
import { requireActor, requireCommunity } from '../../plugins/access.js';
import {
  Calendar,
  CalendarDays,
  CalendarDaysQuery,
  MAX_DAYS,
  MAX_OVERRIDES,
  PatchSettingsBody,
  PolicyParams,
  PutCalendarBody,
  SetSlaPolicyBody,
  Settings,
  SlaPolicies,
  SlaPoliciesQuery,
  SlaPolicy,
} from './calendars.schemas.js';
import * as service from './calendars.service.js';

const NOT_RETROACTIVE =
  'Applies to tickets opened afterwards, and to a ticket whose targets are recomputed later (a priority or category change); the targets of existing tickets are not recomputed by this change.';

/** Business calendars, SLA policies and community settings: what the SLA clock of tickets is measured with. */
const calendarRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.get(
    '/communities/:id/calendar',
    {
      schema: {
        tags: ['sla'],
        summary: 'The community’s business calendar (its own, else the default for its time zone)',
        description: 'Default: 09:00–18:00 Monday to Friday with mainland China’s official holidays and make-up workdays (调休), isDefault true. chinaHolidays gives the years the official table covers.',
        security,
        params: IdParams,
        response: { 200: Calendar, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const access = await requireCommunity(db, request, request.params.id);
      return service.getCalendar(db, access.communityId);
    },
  );

  app.put(
    '/communities/:id/calendar',
    {
      schema: {
        tags: ['sla'],
        summary: 'Set the community’s business calendar',
        description: `Replaces the whole calendar: time zone (default: the current one), working intervals (sorted here; they must not overlap), weekend days (0 = Sunday), China’s holidays on or off, and up to ${MAX_OVERRIDES} date overrides (one per date; an override wins over China’s table and the weekend rule). Working-hours SLA targets are measured in it. ${NOT_RETROACTIVE}`,
        security,
        params: IdParams,
        body: PutCalendarBody,
        response: { 200: Calendar, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const access = await requireCommunity(db, request, request.params.id, 'sla.manage');
      return service.putCalendar(db, requireActor(request), access.communityId, request.body);
    },
  );

  app.get(
    '/communities/:id/calendar/days',
    {
      schema: {
        tags: ['sla'],
        summary: 'Working and non-working days of a date range, with the reason (for calendar views)',
        description: `from and to are local dates, inclusive, at most ${MAX_DAYS} days. Reasons in order of precedence: override (the community’s own), holiday / makeup_workday (China’s official table, when used), weekend, workday.`,
        security,
        params: IdParams,
        querystring: CalendarDaysQuery,
        response: { 200: CalendarDays, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const access = await requireCommunity(db, request, request.params.id);
      return service.calendarDays(db, access.communityId, request.query.from, request.query.to);
    },
  );

  app.get(
    '/communities/:id/sla-policies',
    {
      schema: {
        tags: ['sla'],
        summary: 'SLA policies of a community, and the targets in force for each priority',
        description:
          'items: the community’s own policies. effective: per priority, the policy a ticket of that category (?category=; default none) gets: the category’s policy, else the community’s priority-wide policy, else the default of DESIGN.md (source: default).',
        security,
        params: IdParams,
        querystring: SlaPoliciesQuery,
        response: { 200: SlaPolicies, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const access = await requireCommunity(db, request, request.params.id);
      return service.listPolicies(db, access.communityId, request.query.category ?? null);
    },
  );

  app.post(
    '/communities/:id/sla-policies',
    {
      schema: {
        tags: ['sla'],
        summary: 'Set the SLA policy of a priority (optionally for one facility category)',
        description: `One policy per community × category × priority: 201 when created, 200 when it replaced the existing one (same id). Targets are working time in the policy’s calendar (24x7, or the community’s working hours; a working day is one day of its working hours). The resolution target must not be shorter than the response target (422). ${NOT_RETROACTIVE}`,
        security,
        params: IdParams,
        body: SetSlaPolicyBody,
        response: { 200: SlaPolicy, 201: SlaPolicy, ...errors(...authErrors, 422) },
      },
    },
    async (request, reply) => {
      const access = await requireCommunity(db, request, request.params.id, 'sla.manage');
      const { policy, created } = await service.setPolicy(db, requireActor(request), access.communityId, request.body);
      return reply.status(created ? 201 : 200).send(policy);
    },
  );

  app.delete(
    '/communities/:id/sla-policies/:policyId',
    {
      schema: {
        tags: ['sla'],
        summary: 'Remove an SLA policy: its scope falls back to the priority-wide policy or the default',
        description: `Idempotent: 204 also when the community has no such policy (any more). ${NOT_RETROACTIVE}`,
        security,
        params: PolicyParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      const access = await requireCommunity(db, request, request.params.id, 'sla.manage');
      await service.deletePolicy(db, requireActor(request), access.communityId, request.params.policyId);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/communities/:id/settings',
    {
      schema: {
        tags: ['sla'],
        summary: 'Community settings: the SLA escalation ladder and ticket auto-close (merged over the defaults)',
        security,
        params: IdParams,
        response: { 200: Settings, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const access = await requireCommunity(db, request, request.params.id);
      return service.getSettings(db, access.communityId);
    },
  );

  app.patch(
    '/communities/:id/settings',
    {
      schema: {
        tags: ['sla'],
        summary: 'Change community settings (a field set to null goes back to its default)',
        description: `sla.warnShare: share of a target at which the assignee is warned; sla.escalateCommitteeAfter / escalateAuthorityAfter: working time past a breach, then past the committee, before escalating; tickets.autoCloseAfterHours: a resolved ticket the reporter does not confirm closes after this. ${NOT_RETROACTIVE}`,
        security,
        params: IdParams,
        body: PatchSettingsBody,
        response: { 200: Settings, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const access = await requireCommunity(db, request, request.params.id, 'sla.manage');
      return service.patchSettings(db, requireActor(request), access.communityId, request.body);
    },
  );
};

export default calendarRoutes;
