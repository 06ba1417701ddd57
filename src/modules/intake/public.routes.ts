import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { FACILITY_CATEGORIES } from '../../db/types.js';
import { AppError } from '../../lib/errors.js';
import { StringEnum, errors } from '../../lib/schemas.js';
import * as service from './public.service.js';

/**
 * The public side of a facility's QR code: the report form's facts and the report itself.
 * No login, so this plugin deliberately has no authenticate hook; each answer carries nothing
 * internal (no ids, no routing, no SLA), and reports are rate-limited per address and code.
 */

// No format constraint here: a malformed token must answer exactly like an unknown one (404).
const TokenParams = Type.Object({ qrToken: Type.String({ description: 'The token printed in the facility’s QR code' }) });

const text = (min: number, max: number, description?: string) => Type.String({ minLength: min, maxLength: max, pattern: '\\S', ...(description ? { description } : {}) });

export const PublicReportBody = Type.Object(
  {
    description: text(1, 2000, 'What is wrong'),
    reporterName: text(1, 50),
    reporterPhone: Type.String({ pattern: '^\\+?[0-9][0-9 -]{4,19}$', description: 'Stored for the staff handling the report; masked in every answer' }),
    title: Type.Optional(text(1, 200, 'Defaults to the facility’s name and the first words of the description')),
  },
  { additionalProperties: false },
);

const PublicFacility = Type.Object({
  communityName: Type.String(),
  facility: Type.Object({
    name: Type.String(),
    category: StringEnum(FACILITY_CATEGORIES),
    location: Type.Union([Type.String(), Type.Null()]),
  }),
});

const ReportReceipt = Type.Object({
  ref: Type.Integer({ description: 'The ticket number to quote when asking about the report' }),
  status: Type.String(),
  message: Type.String(),
});

const english = (request: FastifyRequest) => /^\s*en\b/i.test(request.headers['accept-language'] ?? '');

const publicRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app.deps;
  const perMinute = config.publicReportRateLimitPerMinute;
  const limited = (max: number) => ({
    max,
    timeWindow: '1 minute',
    // One budget per client address and facility code.
    keyGenerator: (request: FastifyRequest) => `qr:${request.ip}|${(request.params as { qrToken?: string }).qrToken ?? ''}`,
    errorResponseBuilder: (_req: unknown, ctx: { after: string }) => new AppError(429, 'RATE_LIMITED', `Too many reports from this address for this facility; try again in ${ctx.after}`),
  });

  app.get(
    '/public/facilities/:qrToken',
    {
      // Looking the form up is cheap but still bounded (a generous multiple of the report budget).
      config: { rateLimit: limited(perMinute * 12) },
      schema: {
        tags: ['intake'],
        summary: 'The public report form of a facility’s QR code (no login)',
        description: 'Only what the form shows: the community’s name and the facility’s name, category and location. An unknown or malformed code answers 404.',
        params: TokenParams,
        response: { 200: PublicFacility, ...errors(404, 429, 503) },
      },
    },
    async (request) => service.publicFacilityInfo(db, request.params.qrToken),
  );

  app.post(
    '/public/facilities/:qrToken/reports',
    {
      config: { rateLimit: limited(perMinute) },
      schema: {
        tags: ['intake'],
        summary: 'Report a fault from a facility’s QR code (no login)',
        description: `Opens a P3 fault ticket for the facility, routed to its duty holder with SLA targets. Answers only the ticket number and its status. ${perMinute} reports a minute per address and facility (429 RATE_LIMITED).`,
        params: TokenParams,
        body: PublicReportBody,
        response: { 201: ReportReceipt, ...errors(400, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const ticket = await service.submitPublicReport(db, request.params.qrToken, request.body);
      const message = english(request)
        ? `Thank you: your report has been received as ticket ${ticket.ref}. The staff responsible will handle it.`
        : `感谢您的报告，已受理，工单号 ${ticket.ref}。物业/责任单位将尽快处理。`;
      return reply.status(201).send({ ref: ticket.ref, status: ticket.status, message });
    },
  );
};

export default publicRoutes;
