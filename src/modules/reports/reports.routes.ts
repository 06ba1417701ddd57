import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { badRequest, notFound } from '../../lib/errors.js';
import { IdParams, StringEnum, Timestamp, Uuid, authErrors, errors } from '../../lib/schemas.js';
import { canReadDistrict, requireActor, requireCommunity } from '../../plugins/access.js';
import { toCsv } from './kpis.js';
import { communityKpis, districtKpis, type Period } from './reports.service.js';

const PeriodQuery = Type.Object({
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp),
  format: Type.Optional(StringEnum(['json', 'csv'] as const, { default: 'json' })),
});

const Ratio = Type.Union([Type.Number(), Type.Null()]);
const TicketKpis = Type.Object({
  open: Type.Integer(),
  overdue: Type.Integer(),
  rectificationsOverdue: Type.Integer(),
  openedInPeriod: Type.Integer(),
  responseCompliance: { ...Ratio, description: 'Share of tickets acknowledged within the response target (null: none measured)' },
  resolutionCompliance: { ...Ratio, description: 'Share resolved within the resolution target' },
  responseMeasured: Type.Integer(),
  resolutionMeasured: Type.Integer(),
  meanTimeToAcknowledgeSeconds: Type.Union([Type.Integer(), Type.Null()]),
  meanTimeToResolveSeconds: Type.Union([Type.Integer(), Type.Null()]),
});
const FacilityKpi = Type.Object({
  category: Type.String(),
  total: Type.Integer(),
  operational: Type.Integer(),
  rate: Ratio,
  target: { ...Ratio, description: 'Cameras: 0.9 (摄像机完好率 ≥ 90%)' },
  belowTarget: Type.Boolean(),
});
const InspectionFigures = {
  due: Type.Integer({ description: 'Tasks due in the period (already due, or done early); cancelled ones left out' }),
  doneOnTime: Type.Integer(),
  doneLate: Type.Integer(),
  notDone: Type.Integer(),
  onTimeRate: { ...Ratio, description: 'Share of due tasks done by their due time (null: none due)' },
};
const InspectionKpis = Type.Object({
  ...InspectionFigures,
  byCategory: Type.Array(Type.Object({ category: Type.String(), ...InspectionFigures })),
});
const CommunityKpis = Type.Object({
  communityId: Uuid,
  name: Type.String(),
  district: Type.String(),
  period: Type.Object({ from: Timestamp, to: Timestamp }),
  tickets: TicketKpis,
  facilities: Type.Array(FacilityKpi),
  dutyGap: Type.Boolean(),
  inspections: InspectionKpis,
});
const DistrictKpis = Type.Object({
  district: Type.String(),
  period: Type.Object({ from: Timestamp, to: Timestamp }),
  communities: Type.Array(Type.Object({ communityId: Uuid, name: Type.String(), tickets: TicketKpis, facilities: Type.Array(FacilityKpi), dutyGap: Type.Boolean(), inspections: InspectionKpis })),
  totals: Type.Object({ communities: Type.Integer(), dutyGaps: Type.Integer(), tickets: TicketKpis, facilities: Type.Array(FacilityKpi), inspections: InspectionKpis }),
});

const DAY = 86_400_000;
function period(q: { from?: string; to?: string }): Period {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * DAY);
  if (from >= to) throw badRequest('from must be before to', [{ field: 'from', message: 'must be before to' }]);
  if (to.getTime() - from.getTime() > 366 * DAY) throw badRequest('The period is at most 366 days', [{ field: 'from', message: 'period too long' }]);
  return { from, to };
}

const TICKET_COLUMNS = ['open', 'overdue', 'rectificationsOverdue', 'openedInPeriod', 'responseCompliance', 'resolutionCompliance', 'meanTimeToAcknowledgeSeconds', 'meanTimeToResolveSeconds'] as const;

const reportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.get(
    '/reports/communities/:id/kpis',
    {
      schema: {
        tags: ['reports'],
        summary: 'A community’s KPIs: open/overdue tickets, SLA compliance, mean times, facility intact rates, duty gap, inspections done on time',
        description: 'Period by ticket opening time, default the last 30 days. ?format=csv gives one row per figure.',
        security,
        params: IdParams,
        querystring: PeriodQuery,
        produces: ['application/json', 'text/csv'],
        response: { 200: CommunityKpis, ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      await requireCommunity(db, request, request.params.id, 'reports.read');
      const k = await communityKpis(db, request.params.id, period(request.query));
      if (request.query.format === 'csv') {
        const rows: Array<Array<string | number | boolean | null>> = [
          ...TICKET_COLUMNS.map((c) => [`tickets.${c}`, k.tickets[c]]),
          ...k.facilities.flatMap((f) => [
            [`facilities.${f.category}.rate`, f.rate],
            [`facilities.${f.category}.operational`, f.operational],
            [`facilities.${f.category}.total`, f.total],
          ]),
          ['dutyGap', k.dutyGap],
          ['inspections.onTimeRate', k.inspections.onTimeRate],
          ['inspections.due', k.inspections.due],
          ...k.inspections.byCategory.flatMap((c) => [
            [`inspections.${c.category}.onTimeRate`, c.onTimeRate],
            [`inspections.${c.category}.due`, c.due],
            [`inspections.${c.category}.doneOnTime`, c.doneOnTime],
          ]),
        ];
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="kpis-${k.communityId}.csv"`)
          // A string body is sent as is (not through the JSON schema serializer).
          .send(toCsv(['metric', 'value'], rows) as unknown as typeof k);
      }
      return k;
    },
  );

  app.get(
    '/reports/districts/:district/kpis',
    {
      schema: {
        tags: ['reports'],
        summary: 'A district’s KPIs, per community and in total (the district’s authority, platform admins)',
        security,
        params: Type.Object({ district: Type.String({ minLength: 1, maxLength: 100 }) }),
        querystring: PeriodQuery,
        produces: ['application/json', 'text/csv'],
        response: { 200: DistrictKpis, ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      const actor = requireActor(request);
      if (!canReadDistrict(actor, request.params.district)) throw notFound('District');
      const k = await districtKpis(db, actor, request.params.district, period(request.query));
      if (request.query.format === 'csv') {
        const cameraRate = (f: Array<{ category: string; rate: number | null }>) => f.find((x) => x.category === 'camera')?.rate ?? null;
        const rows = k.communities.map((c) => [c.communityId, c.name, ...TICKET_COLUMNS.map((col) => c.tickets[col]), cameraRate(c.facilities), c.dutyGap, c.inspections.onTimeRate]);
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="kpis-district.csv"`)
          .send(toCsv(['communityId', 'name', ...TICKET_COLUMNS, 'cameraIntactRate', 'dutyGap', 'inspectionsOnTimeRate'], rows) as unknown as typeof k);
      }
      return k;
    },
  );
};

export default reportRoutes;
