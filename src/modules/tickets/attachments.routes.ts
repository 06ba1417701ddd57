import multipart from '@fastify/multipart';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError, badRequest } from '../../lib/errors.js';
import { decodeCursor, toPage } from '../../lib/pagination.js';
import { IdParams, Page, PageQuery, Timestamp, Uuid, authErrors, errors } from '../../lib/schemas.js';
import { requireActor } from '../../plugins/access.js';
import * as attachments from './attachments.js';
import { ticketForActor } from './tickets.service.js';

const Attachment = Type.Object({
  id: Uuid,
  ticketId: Uuid,
  originalName: Type.String({ description: 'The uploader’s file name, sanitised; a label only' }),
  mimeType: Type.String({ description: 'From the content, not from what the client declared' }),
  sizeBytes: Type.Integer(),
  sha256: Type.String(),
  uploadedBy: Type.Union([Uuid, Type.Null()]),
  createdAt: Timestamp,
});

const AttachmentParams = Type.Object({ id: Uuid, attachmentId: Uuid });

/** Errors of reading the multipart stream itself that are the client's doing. */
function clientError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const status = (err as { statusCode?: number }).statusCode;
  if ((err as { code?: string }).code === 'FST_FILES_LIMIT') return new AppError(413, 'PAYLOAD_TOO_LARGE', 'Attach one file per request');
  if (status === 413) return new AppError(413, 'PAYLOAD_TOO_LARGE', (err as Error).message);
  if (status && status >= 400 && status < 500) return err;
  const code = (err as { code?: string }).code;
  // busboy's own complaints (malformed parts, an early end) carry no status.
  if (!code || code === 'ERR_STREAM_PREMATURE_CLOSE') return badRequest('The multipart body is malformed or incomplete');
  return err;
}

const attachmentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app.deps;
  // Scoped to this plugin: no other route accepts multipart bodies.
  await app.register(multipart, {
    limits: {
      fileSize: config.uploadMaxBytes,
      files: 1,
      fields: 5,
      fieldSize: 1024,
      fieldNameSize: 100,
      parts: 6,
      headerPairs: 100,
    },
  });
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.post(
    '/tickets/:id/attachments',
    {
      schema: {
        tags: ['tickets'],
        summary: 'Attach a photo or document to a ticket (multipart/form-data, one file)',
        description: `One file part (any field name), at most ${config.uploadMaxBytes} bytes (413). Its content must be JPEG, PNG, WebP or PDF, and agree with the declared type and the file name's extension (415 UNSUPPORTED_MEDIA_TYPE otherwise). Anyone who may comment on the ticket may attach.`,
        consumes: ['multipart/form-data'],
        security,
        params: IdParams,
        response: { 201: Attachment, ...errors(...authErrors, 413, 415) },
      },
    },
    async (request, reply) => {
      const actor = requireActor(request);
      // Who may add comes first: nobody else gets to send us bytes.
      const ticket = await attachments.ticketForUpload(db, actor, request.params.id);
      if (!request.isMultipart()) throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data');
      let stored: attachments.StoredFile | undefined;
      try {
        // Every part is read, so a second file (over the files limit) is refused, not dropped.
        for await (const part of request.parts()) {
          if (part.type !== 'file') continue;
          stored = await attachments.storeUpload({ uploadDir: config.uploadDir, maxBytes: config.uploadMaxBytes, file: part.file, filename: part.filename, declaredType: part.mimetype });
        }
      } catch (err) {
        if (stored) await attachments.removeStoredFile(stored);
        throw clientError(err);
      }
      if (!stored) throw badRequest('Attach one file', [{ field: 'file', message: 'required' }]);
      const row = await attachments.recordAttachment(db, actor, ticket, stored);
      return reply.status(201).send(attachments.toAttachmentDto(row));
    },
  );

  app.get(
    '/tickets/:id/attachments',
    {
      schema: {
        tags: ['tickets'],
        summary: 'The files attached to a ticket',
        security,
        params: IdParams,
        querystring: PageQuery,
        response: { 200: Page(Attachment), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const { ticket } = await ticketForActor(db, requireActor(request), request.params.id);
      const limit = request.query.limit ?? 50;
      const rows = await attachments.listAttachmentRows(db, ticket.id, { cursor: decodeCursor(request.query.cursor), limit });
      return toPage(rows, limit, attachments.toAttachmentDto);
    },
  );

  app.get(
    '/tickets/:id/attachments/:attachmentId',
    {
      schema: {
        tags: ['tickets'],
        summary: 'Download an attached file (always as a download, with its checked type)',
        security,
        params: AttachmentParams,
        produces: ['image/jpeg', 'image/png', 'image/webp', 'application/pdf'],
        response: { 200: Type.String({ format: 'binary', description: 'The file' }), ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      const { ticket } = await ticketForActor(db, requireActor(request), request.params.id);
      const a = await attachments.findAttachment(db, ticket.id, request.params.attachmentId);
      if (!a) throw new AppError(404, 'NOT_FOUND', 'Attachment not found');
      const file = await attachments.openAttachment(config.uploadDir, a);
      return reply
        .header('content-type', a.mime_type)
        .header('content-length', file.size)
        .header('content-disposition', attachments.contentDisposition(a.original_name))
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('cache-control', 'private, no-store')
        // A stream is sent as is (never serialised); the schema's binary string only documents it.
        .send(file.stream as unknown as string);
    },
  );
};

export default attachmentRoutes;
