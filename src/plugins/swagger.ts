import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/** OpenAPI document generated from the route schemas, with the UI at /api/v1/docs. */
export default fp(
  async (app, opts: { prefix: string }) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Upkeep API',
          description:
            'Maintenance ticketing for residential communities (小区): facilities, duties, tickets with SLAs, inspections, maintenance-fund votes. Errors are always { error: { code, message, details? } }.',
          version: '0.1.0',
        },
        components: {
          securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        },
        tags: [
          { name: 'health', description: 'Liveness and readiness' },
          { name: 'auth', description: 'Login, token refresh, the current user' },
          { name: 'organizations', description: 'Property companies, committees, contractors, authorities and their members' },
          { name: 'communities', description: 'Communities and buildings' },
          { name: 'units', description: 'Units (exclusive parts), owners and the CSV register import' },
          { name: 'facilities', description: 'Common facilities and devices' },
          { name: 'audit', description: 'The tamper-evident audit trail' },
          { name: 'notifications', description: 'In-app messages, and email delivery status for administrators' },
          { name: 'tickets', description: 'Fault reports, alarms, rectification orders: routing, SLA, transitions, comments, ratings' },
          { name: 'funds', description: 'Special maintenance fund requests, owners’ votes, settlement and unit ledgers' },
          { name: 'reports', description: 'KPIs for communities and districts (JSON or CSV)' },
          { name: 'duties', description: 'Who must keep a community or a facility category running' },
          { name: 'intake', description: 'Public QR-code fault reports (no login), devices and their alarms' },
          { name: 'sla', description: 'Business calendars (working hours, holidays, 调休), SLA policies and community settings' },
          { name: 'inspections', description: 'Recurring inspection plans (RRULE), generated tasks with reminders, results that open tickets, and electronic patrol (电子巡查) check-ins' },
        ],
      },
      refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    });
    await app.register(swaggerUi, { routePrefix: `${opts.prefix}/docs`, staticCSP: true, uiConfig: { docExpansion: 'list' } });
  },
  { name: 'swagger' },
);
