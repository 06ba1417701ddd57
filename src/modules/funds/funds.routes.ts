import multipart from '@fastify/multipart';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { FUND_DOCUMENT_KINDS } from '../../db/types.js';
import { AppError, badRequest, forbidden, notFound } from '../../lib/errors.js';
import { IdParams, Page, Timestamp, Uuid, authErrors, errors } from '../../lib/schemas.js';
import { communityAccess, requireActor, requireCommunity } from '../../plugins/access.js';
import { BallotBody, CreateFundRequestBody, FundRequest, FundStatus, FundTransitionBody } from './funds.schemas.js';
import * as service from './funds.service.js';
import type { FundRequestRow } from './funds.service.js';
import { fundSummary, importOpeningBalances, unitLedger } from './ledger.service.js';
import { fundMoves } from './fund-state.js';
import * as files from '../tickets/attachments.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function toDto(r: FundRequestRow) {
  return {
    id: r.id,
    ref: r.ref,
    communityId: r.community_id,
    title: r.title,
    description: r.description,
    path: r.path,
    emergencyKind: r.emergency_kind,
    decisionType: r.decision_type,
    status: r.status,
    budgetCents: r.budget_cents,
    approvalMode: r.approval_mode,
    contractorOrgId: r.contractor_org_id,
    voteOpensAt: iso(r.vote_opens_at),
    voteClosesAt: iso(r.vote_closes_at),
    noticeDays: r.notice_days,
    noticeEndsAt: iso(r.notice_ends_at),
    afterFactNoticeAt: iso(r.after_fact_notice_at),
    outcome: r.outcome,
    approvedAt: iso(r.approved_at),
    worksReportedAt: iso(r.works_reported_at),
    actualCostCents: r.actual_cost_cents,
    fundShareCents: r.fund_share_cents,
    settledAt: iso(r.settled_at),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

const FundDocument = Type.Object({
  id: Uuid,
  requestId: Uuid,
  kind: Type.String(),
  title: Type.String(),
  mimeType: Type.Union([Type.String(), Type.Null()], { description: 'From the content, not from what the client declared' }),
  sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
  sha256: Type.Union([Type.String(), Type.Null()]),
  uploadedBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
});

function toDocumentDto(d: { id: string; request_id: string; kind: string; title: string; mime_type: string | null; size_bytes: number | null; sha256: string | null; uploaded_by: string | null; created_at: Date }) {
  return { id: d.id, requestId: d.request_id, kind: d.kind, title: d.title, mimeType: d.mime_type, sizeBytes: d.size_bytes, sha256: d.sha256, uploadedBy: d.uploaded_by, createdAt: d.created_at.toISOString() };
}

/** The download's file name: the title, with the extension of the checked content. */
function downloadName(title: string, mime: string): string {
  const kind = files.FILE_KINDS.find((k) => k.mime === mime);
  const name = files.sanitiseFilename(title);
  if (!kind) return name;
  const dot = name.lastIndexOf('.');
  return dot > 0 && kind.exts.includes(name.slice(dot + 1).toLowerCase()) ? name : `${name}.${kind.ext}`;
}

/** Errors of reading the multipart stream itself that are the client's doing (as for ticket attachments). */
function multipartClientError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const status = (err as { statusCode?: number }).statusCode;
  const code = (err as { code?: string }).code;
  if (code === 'FST_FILES_LIMIT') return new AppError(413, 'PAYLOAD_TOO_LARGE', 'Attach one file per request');
  if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') return badRequest('Send one file and the fields kind and title');
  if (status === 413) return new AppError(413, 'PAYLOAD_TOO_LARGE', (err as Error).message);
  if (status && status >= 400 && status < 500) return err;
  // busboy's own complaints (malformed parts, an early end) carry no status.
  if (!code || code === 'ERR_STREAM_PREMATURE_CLOSE') return badRequest('The multipart body is malformed or incomplete');
  return err;
}

const DocumentParams = Type.Object({ id: Uuid, documentId: Uuid });

const Tally = Type.Unknown({ description: 'Every figure and the reasoning (zh and en): see src/modules/funds/tally.ts TallyResult' });

const fundRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app.deps;
  // Scoped to this plugin (document uploads), like the ticket attachments' own registration.
  await app.register(multipart, {
    limits: { fileSize: config.uploadMaxBytes, files: 1, fields: 5, fieldSize: 1024, fieldNameSize: 100, parts: 6, headerPairs: 100 },
  });
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];
  app.addContentTypeParser(['text/csv', 'application/csv'], { parseAs: 'string', bodyLimit: 10 * 1024 * 1024 }, (_req, body, done) => done(null, body));

  app.post(
    '/fund-requests',
    {
      schema: {
        tags: ['funds'],
        summary: 'Propose a special maintenance fund request (property company or owners’ committee)',
        description: 'The funding sources must add up to the budget in exact cents (422 otherwise). The emergency path needs an emergency kind and a linked P1 ticket or facility.',
        security,
        body: CreateFundRequestBody,
        response: { 201: FundRequest, ...errors(...authErrors, 422) },
      },
    },
    async (request, reply) => {
      const access = await requireCommunity(db, request, request.body.communityId);
      const r = await service.createFundRequest(db, requireActor(request), access, request.body);
      return reply.status(201).send(toDto(r));
    },
  );

  app.get(
    '/fund-requests',
    {
      schema: {
        tags: ['funds'],
        summary: 'Fund requests of the communities I may see, newest first',
        security,
        querystring: Type.Object({
          communityId: Type.Optional(Uuid),
          status: Type.Optional(FundStatus),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
          cursor: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: { 200: Page(FundRequest), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const q = request.query;
      const limit = q.limit ?? 50;
      // Without a community: every request the actor may read (listRequests applies the visibility).
      let communityIds: string[] | 'all' = 'all';
      if (q.communityId) {
        await requireCommunity(db, request, q.communityId);
        communityIds = [q.communityId];
      }
      let before: { t: string; id: string } | undefined;
      if (q.cursor) {
        try {
          before = JSON.parse(Buffer.from(q.cursor, 'base64url').toString('utf8')) as { t: string; id: string };
          if (typeof before.t !== 'string' || typeof before.id !== 'string' || Number.isNaN(Date.parse(before.t))) throw new Error('bad');
        } catch {
          throw badRequest('The cursor is not valid; use nextCursor from a previous page');
        }
      }
      const rows = await service.listRequests(db, actor, communityIds, { status: q.status, limit, before });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toDto), nextCursor: rows.length > limit && last ? Buffer.from(JSON.stringify({ t: last.created_at.toISOString(), id: last.id })).toString('base64url') : null };
    },
  );

  app.get(
    '/fund-requests/:id',
    {
      schema: {
        tags: ['funds'],
        summary: 'One request: budget, funding, scope size, links, documents, objections, live tally, the moves you may make',
        security,
        params: IdParams,
        response: {
          200: Type.Object({
            ...FundRequest.properties,
            budgetLines: Type.Array(Type.Object({ position: Type.Integer(), description: Type.String(), amountCents: Type.Integer() })),
            funding: Type.Array(Type.Object({ source: Type.String(), amountCents: Type.Integer() })),
            units: Type.Integer(),
            links: Type.Array(Type.Object({ ticketId: Type.Union([Uuid, Type.Null()]), facilityId: Type.Union([Uuid, Type.Null()]) })),
            documents: Type.Array(
              Type.Object({ id: Uuid, kind: Type.String(), title: Type.String(), mimeType: Type.Union([Type.String(), Type.Null()]), sizeBytes: Type.Union([Type.Integer(), Type.Null()]), createdAt: Timestamp }),
            ),
            objections: Type.Array(Type.Object({ id: Uuid, body: Type.String(), createdAt: Timestamp })),
            tally: Type.Union([Tally, Type.Null()]),
            allowedTransitions: Type.Array(FundStatus),
          }),
          ...errors(...authErrors),
        },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const { request: r, roles } = await service.requestForActor(db, actor, request.params.id);
      const d = await service.requestDetail(db, r);
      return {
        ...toDto(r),
        budgetLines: d.lines.map((l) => ({ position: l.position, description: l.description, amountCents: l.amount_cents })),
        funding: d.funding.map((f) => ({ source: f.source, amountCents: f.amount_cents })),
        units: d.unitCount,
        links: d.links.map((l) => ({ ticketId: l.ticket_id, facilityId: l.facility_id })),
        documents: d.documents.map((x) => ({ id: x.id, kind: x.kind, title: x.title, mimeType: x.mime_type, sizeBytes: x.size_bytes, createdAt: x.created_at.toISOString() })),
        objections: d.objections.map((o) => ({ id: o.id, body: o.body, createdAt: o.created_at.toISOString() })),
        tally: d.tally,
        allowedTransitions: fundMoves(r.status).filter((m) => m.by.some((role) => roles.has(role))).map((m) => m.to),
      };
    },
  );

  app.post(
    '/fund-requests/:id/transitions',
    {
      schema: {
        tags: ['funds'],
        summary: 'Move a request along its status machine (409 illegal, 403 not your role)',
        description:
          'draft → voting (committee; voteClosesAt) → result at the deadline → public_notice (committee) → approved (committee, or the authority per community setting, after the notice) → in_works → accepted (actualCostCents) → settled (apportioned and debited) → closed; emergency: draft → emergency_review → approved …; withdrawn (reason).',
        security,
        params: IdParams,
        body: FundTransitionBody,
        response: { 200: FundRequest, ...errors(...authErrors, 409, 422) },
      },
    },
    async (request) => toDto(await service.transitionFundRequest(db, requireActor(request), request.params.id, request.body.to, request.body)),
  );

  app.post(
    '/fund-requests/:id/close-vote',
    {
      schema: {
        tags: ['funds'],
        summary: 'Close a vote at or after its deadline, or early when the outcome can no longer change (committee)',
        security,
        params: IdParams,
        response: { 200: FundRequest, ...errors(...authErrors, 409) },
      },
    },
    async (request) => toDto(await service.closeVoteEarly(db, requireActor(request), request.params.id)),
  );

  app.post(
    '/fund-requests/:id/ballots',
    {
      schema: {
        tags: ['funds'],
        summary: 'Cast my ballot (owners), or enter a paper/proxy ballot with its scan (committee)',
        description: 'One ballot per owner-person covering all their units in scope. An online ballot and an entered one for the same owner cannot both count (409). Outside the vote window: 409. Not in scope: 403.',
        security,
        params: IdParams,
        body: BallotBody,
        response: {
          200: Type.Object({ voterKey: Type.String(), choice: Type.String(), channel: Type.String(), units: Type.Array(Uuid), created: Type.Boolean() }),
          ...errors(...authErrors, 409, 422),
        },
      },
    },
    async (request) => service.castBallot(db, requireActor(request), request.params.id, request.body),
  );

  app.get(
    '/fund-requests/:id/tally',
    {
      schema: {
        tags: ['funds'],
        summary: 'The tally with every figure and the reasoning: live while voting, final after',
        security,
        params: IdParams,
        response: { 200: Tally, ...errors(...authErrors, 409) },
      },
    },
    async (request) => {
      const { request: r } = await service.requestForActor(db, requireActor(request), request.params.id);
      const t = await service.currentTally(db, r);
      if (!t) throw notFound('Tally (the vote has not opened)');
      return t;
    },
  );

  app.get(
    '/fund-requests/:id/notice',
    {
      schema: {
        tags: ['funds'],
        summary: 'The public notice (公示): request, budget, funding, tally, each unit’s choice with owners’ names masked, and each unit’s share after settlement',
        security,
        params: IdParams,
        response: {
          200: Type.Object({
            request: FundRequest,
            budgetLines: Type.Array(Type.Object({ description: Type.String(), amountCents: Type.Integer() })),
            funding: Type.Array(Type.Object({ source: Type.String(), amountCents: Type.Integer() })),
            tally: Type.Union([Tally, Type.Null()]),
            units: Type.Array(
              Type.Object({
                unitId: Uuid,
                building: Type.String(),
                number: Type.String(),
                areaCentiM2: Type.Integer(),
                owners: Type.Array(Type.String()),
                choice: Type.Union([Type.String(), Type.Null()]),
                channel: Type.Union([Type.String(), Type.Null()]),
                shareCents: Type.Union([Type.Integer(), Type.Null()]),
              }),
            ),
            objections: Type.Integer(),
          }),
          ...errors(...authErrors),
        },
      },
    },
    async (request) => {
      const { request: r } = await service.requestForActor(db, requireActor(request), request.params.id);
      const [d, units] = await Promise.all([service.requestDetail(db, r), service.noticeRows(db, r)]);
      return {
        request: toDto(r),
        budgetLines: d.lines.map((l) => ({ description: l.description, amountCents: l.amount_cents })),
        funding: d.funding.map((f) => ({ source: f.source, amountCents: f.amount_cents })),
        tally: d.tally,
        units,
        objections: d.objections.length,
      };
    },
  );

  app.post(
    '/fund-requests/:id/documents',
    {
      schema: {
        tags: ['funds'],
        summary: 'Attach a document to a request: quote, contract, plan, ballot scan, proxy letter… (multipart/form-data)',
        description: `One file part (at most ${config.uploadMaxBytes} bytes, 413) and the fields kind (${FUND_DOCUMENT_KINDS.join(', ')}) and title (1–200 characters; default: the file name). The content must be JPEG, PNG, WebP or PDF and agree with the declared type and the file name (415). The committee, the property company and the request’s contractor add documents; ballot scans and proxy letters only the committee (403). A ballot entered on paper or by proxy names its scan (scanDocumentId).`,
        consumes: ['multipart/form-data'],
        security,
        params: IdParams,
        response: { 201: FundDocument, ...errors(...authErrors, 413, 415) },
      },
    },
    async (request, reply) => {
      const actor = requireActor(request);
      // Who may add comes first: nobody else gets to send us bytes.
      await service.requestForDocumentUpload(db, actor, request.params.id);
      if (!request.isMultipart()) throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data');
      let stored: files.StoredFile | undefined;
      const fields = new Map<string, string>();
      try {
        // Every part is read, so a second file (over the files limit) is refused, not dropped.
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            stored = await files.storeUpload({ uploadDir: config.uploadDir, maxBytes: config.uploadMaxBytes, file: part.file, filename: part.filename, declaredType: part.mimetype });
          } else {
            if (part.valueTruncated) throw badRequest(`The field ${part.fieldname} is too long`, [{ field: part.fieldname, message: 'too long' }]);
            fields.set(part.fieldname, String(part.value));
          }
        }
      } catch (err) {
        if (stored) await files.removeStoredFile(stored);
        throw multipartClientError(err);
      }
      if (!stored) throw badRequest('Attach one file', [{ field: 'file', message: 'required' }]);
      try {
        const row = await service.addDocument(db, actor, request.params.id, {
          kind: fields.get('kind') ?? '',
          title: fields.get('title') ?? stored.originalName,
          storageKey: stored.storageKey,
          mimeType: stored.kind.mime,
          sizeBytes: stored.size,
          sha256: stored.sha256,
        });
        return reply.status(201).send(toDocumentDto(row));
      } catch (err) {
        // Not recorded: the file goes too.
        await files.removeStoredFile(stored);
        throw err;
      }
    },
  );

  app.get(
    '/fund-requests/:id/documents/:documentId',
    {
      schema: {
        tags: ['funds'],
        summary: 'Download a request’s document (always as a download, with its checked type)',
        description: 'Whoever may read the request reads its documents; ballot scans and proxy letters only the committee, the property company, the authority, their uploader and the owner the ballot is for (404 for others).',
        security,
        params: DocumentParams,
        produces: ['image/jpeg', 'image/png', 'image/webp', 'application/pdf'],
        response: { 200: Type.String({ format: 'binary', description: 'The file' }), ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      const { document: d } = await service.documentForActor(db, requireActor(request), request.params.id, request.params.documentId);
      const file = await files.openStoredFile(config.uploadDir, d.storage_key, 'Document');
      const mime = d.mime_type ?? 'application/octet-stream';
      return reply
        .header('content-type', mime)
        .header('content-length', file.size)
        .header('content-disposition', files.contentDisposition(downloadName(d.title, mime)))
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('cache-control', 'private, no-store')
        // A stream is sent as is (never serialised); the schema's binary string only documents it.
        .send(file.stream as unknown as string);
    },
  );

  app.post(
    '/fund-requests/:id/objections',
    {
      schema: {
        tags: ['funds'],
        summary: 'Object during the public notice (owners of the community)',
        security,
        params: IdParams,
        body: Type.Object({ body: Type.String({ minLength: 1, maxLength: 5000 }) }, { additionalProperties: false }),
        response: { 201: Type.Object({ id: Uuid, createdAt: Timestamp }), ...errors(...authErrors, 409) },
      },
    },
    async (request, reply) => {
      const o = await service.addObjection(db, requireActor(request), request.params.id, request.body.body);
      return reply.status(201).send({ id: o.id, createdAt: o.created_at.toISOString() });
    },
  );

  app.post(
    '/fund-requests/:id/works-done',
    { schema: { tags: ['funds'], summary: 'The contractor reports the works done', security, params: IdParams, response: { 200: FundRequest, ...errors(...authErrors, 409) } } },
    async (request) => toDto(await service.reportWorksDone(db, requireActor(request), request.params.id)),
  );

  app.post(
    '/fund-requests/:id/after-fact-notice',
    {
      schema: {
        tags: ['funds'],
        summary: 'Record the after-the-fact public notice of an emergency request (required before settlement)',
        security,
        params: IdParams,
        response: { 200: FundRequest, ...errors(...authErrors, 409, 422) },
      },
    },
    async (request) => toDto(await service.recordAfterFactNotice(db, requireActor(request), request.params.id)),
  );

  app.get(
    '/units/:id/ledger',
    {
      schema: {
        tags: ['funds'],
        summary: 'A unit’s maintenance fund account (its owners, the committee, the authority, staff)',
        security,
        params: IdParams,
        response: {
          200: Type.Object({
            unitId: Uuid,
            firstDepositCents: Type.Integer(),
            balanceCents: Type.Integer(),
            belowTopUpThreshold: Type.Boolean({ description: 'Balance below 30% of the first deposit: must be topped up' }),
            entries: Type.Array(
              Type.Object({
                id: Uuid,
                kind: Type.String(),
                amountCents: Type.Integer(),
                balanceCents: Type.Integer(),
                note: Type.Union([Type.String(), Type.Null()]),
                requestId: Type.Union([Uuid, Type.Null()]),
                requestTitle: Type.Union([Type.String(), Type.Null()]),
                createdAt: Timestamp,
              }),
            ),
          }),
          ...errors(...authErrors),
        },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const unit = await db.selectFrom('units').select(['id', 'community_id', 'first_deposit_cents']).where('id', '=', request.params.id).executeTakeFirst();
      if (!unit) throw notFound('Unit');
      const access = await communityAccess(db, actor, unit.community_id);
      const ownsIt = access.stances.has('owner') && (await db.selectFrom('unit_owners as uo').innerJoin('owners as o', 'o.id', 'uo.owner_id').select('o.id').where('uo.unit_id', '=', unit.id).where('o.user_id', '=', actor.userId).executeTakeFirst()) !== undefined;
      const may = ownsIt || access.can('owners.read') || access.stances.has('authority');
      if (!may) throw notFound('Unit');
      return unitLedger(db, unit);
    },
  );

  app.post(
    '/communities/:id/ledger/opening-balances',
    {
      bodyLimit: 10 * 1024 * 1024,
      schema: {
        tags: ['funds'],
        summary: 'Import opening balances of unit fund accounts from CSV (building, unit number, balance in yuan), all or nothing',
        security,
        params: IdParams,
        consumes: ['text/csv'],
        body: Type.String(),
        response: { 201: Type.Object({ units: Type.Integer(), totalCents: Type.Integer() }), ...errors(...authErrors, 413, 415) },
      },
    },
    async (request, reply) => {
      const access = await requireCommunity(db, request, request.params.id, 'structure.manage');
      if (!access.stances.has('committee_officer') && !access.stances.has('platform_admin')) throw forbidden('The owners’ committee records the fund’s opening balances');
      if (typeof request.body !== 'string') throw badRequest('Send the CSV as the body with Content-Type: text/csv');
      return reply.status(201).send(await importOpeningBalances(db, requireActor(request), request.params.id, request.body));
    },
  );

  app.get(
    '/communities/:id/fund-summary',
    {
      schema: {
        tags: ['funds'],
        summary: 'The community’s maintenance fund: balance, units below the top-up threshold, requests by status, spend',
        security,
        params: IdParams,
        response: {
          200: Type.Object({
            communityId: Uuid,
            units: Type.Integer(),
            balanceCents: Type.Integer(),
            belowTopUpThreshold: Type.Integer(),
            requests: Type.Record(Type.String(), Type.Integer()),
            settledFundShareCents: Type.Integer(),
          }),
          ...errors(...authErrors),
        },
      },
    },
    async (request) => {
      await requireCommunity(db, request, request.params.id);
      return fundSummary(db, request.params.id);
    },
  );
};

export default fundRoutes;
