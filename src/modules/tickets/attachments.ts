import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Db, DbOrTrx } from '../../db/index.js';
import { AppError, badRequest, forbidden, notFound } from '../../lib/errors.js';
import { afterCursor, type Cursor } from '../../lib/pagination.js';
import type { Actor } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import { ticketForActor } from './tickets.service.js';

/**
 * Ticket attachments: photos and documents, checked by their content (magic bytes), stored
 * under the configured directory at server-chosen paths `<yyyy>/<mm>/<uuid>.<ext>`. The client's
 * file name is kept, sanitised, only as a label; it never reaches the file system.
 */

export interface FileKind {
  mime: 'image/jpeg' | 'image/png' | 'image/webp' | 'application/pdf';
  ext: 'jpg' | 'png' | 'webp' | 'pdf';
  /** File name extensions that may carry this kind. */
  exts: readonly string[];
  /** Content types a client may declare for this kind. */
  declared: readonly string[];
  test(head: Buffer): boolean;
}

const ascii = (b: Buffer, from: number, to: number) => (b.length >= to ? b.subarray(from, to).toString('latin1') : '');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export const FILE_KINDS: readonly FileKind[] = [
  { mime: 'image/jpeg', ext: 'jpg', exts: ['jpg', 'jpeg', 'jpe', 'jfif'], declared: ['image/jpeg', 'image/jpg', 'image/pjpeg'], test: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { mime: 'image/png', ext: 'png', exts: ['png'], declared: ['image/png', 'image/x-png'], test: (b) => b.length >= 8 && b.subarray(0, 8).equals(PNG_SIGNATURE) },
  { mime: 'image/webp', ext: 'webp', exts: ['webp'], declared: ['image/webp'], test: (b) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP' },
  { mime: 'application/pdf', ext: 'pdf', exts: ['pdf'], declared: ['application/pdf', 'application/x-pdf'], test: (b) => ascii(b, 0, 5) === '%PDF-' },
];
/** Bytes needed to tell every kind above apart. */
const SNIFF_BYTES = 12;
/** Declared types that claim nothing in particular (what clients send when they do not know). */
const NEUTRAL_TYPES = new Set(['', 'application/octet-stream', 'binary/octet-stream']);

export function sniff(head: Buffer): FileKind | null {
  return FILE_KINDS.find((k) => k.test(head)) ?? null;
}

const unsupported = (message = 'Only JPEG, PNG, WebP and PDF files are accepted (checked by their content)') => new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', message);
export const tooLarge = (maxBytes: number) => new AppError(413, 'PAYLOAD_TOO_LARGE', `The file is larger than the limit of ${maxBytes} bytes`);

/** The client's name as a label: no directories, control or bidi characters, leading dots; at most 200 characters. */
export function sanitiseFilename(name: string | undefined): string {
  const base = (name ?? '').normalize('NFC').split(/[\\/]/).pop() ?? '';
  const cleaned = [...base]
    .filter((ch) => {
      const c = ch.codePointAt(0) as number;
      const control = c < 0x20 || (c >= 0x7f && c <= 0x9f);
      const bidiOrInvisible = (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0xfeff;
      return !control && !bidiOrInvisible;
    })
    .map((ch) => ('<>:"|?*'.includes(ch) ? '_' : ch))
    .join('')
    .replace(/^[.\s]+/, '')
    .trim();
  const chars = [...cleaned];
  if (chars.length === 0) return 'attachment';
  if (chars.length <= 200) return cleaned;
  const dot = cleaned.lastIndexOf('.');
  const ext = dot > 0 ? [...cleaned.slice(dot)].slice(0, 10).join('') : '';
  return [...cleaned.slice(0, dot > 0 ? dot : undefined)].slice(0, 200 - [...ext].length).join('') + ext;
}

const extensionOf = (name: string) => {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
};

/**
 * Refuses a file whose declared type or name says something else than its content: a PNG
 * declared application/pdf, HTML declared image/png, a PDF named photo.jpg.
 */
export function checkAgreement(kind: FileKind, declaredType: string | undefined, filename: string): void {
  const declared = (declaredType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!NEUTRAL_TYPES.has(declared) && !kind.declared.includes(declared)) {
    throw unsupported(`The file was declared ${declared} but its content is ${kind.mime}`);
  }
  const ext = extensionOf(filename);
  if (ext && !kind.exts.includes(ext)) throw unsupported(`The file is named .${ext} but its content is ${kind.mime}`);
}

export interface StoredFile {
  storageKey: string;
  path: string;
  kind: FileKind;
  size: number;
  sha256: string;
  originalName: string;
}

const removeQuietly = (path: string) => unlink(path).catch(() => {});

/** Removes a stored file that will not be recorded after all. */
export const removeStoredFile = (stored: StoredFile) => removeQuietly(stored.path);

/**
 * Streams an upload to a temporary file while hashing it and checking its first bytes, then
 * renames it to its server-chosen place. Nothing is left behind on any failure.
 */
export async function storeUpload(opts: { uploadDir: string; maxBytes: number; file: Readable & { truncated?: boolean }; filename: string | undefined; declaredType: string | undefined }): Promise<StoredFile> {
  const originalName = sanitiseFilename(opts.filename);
  const id = randomUUID();
  const tmpDir = join(opts.uploadDir, '.tmp');
  await mkdir(tmpDir, { recursive: true });
  const tmpPath = join(tmpDir, `${id}.part`);

  const hash = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  let kind: FileKind | null | undefined;
  let refused: AppError | null = null;
  const inspect = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > opts.maxBytes) refused ??= tooLarge(opts.maxBytes);
      if (kind === undefined && head.length < SNIFF_BYTES) {
        head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
        if (head.length >= SNIFF_BYTES) {
          kind = sniff(head);
          if (!kind) refused ??= unsupported();
        }
      }
      // Once refused, the rest is read (so the request completes) but not written.
      if (refused) return callback();
      hash.update(chunk);
      callback(null, chunk);
    },
  });

  try {
    await pipeline(opts.file, inspect, createWriteStream(tmpPath, { flags: 'wx', mode: 0o640 }));
    if (opts.file.truncated || size > opts.maxBytes) throw tooLarge(opts.maxBytes);
    if (refused) throw refused;
    if (size === 0) throw badRequest('The file is empty: attach one file', [{ field: 'file', message: 'empty' }]);
    if (kind === undefined) kind = sniff(head);
    if (!kind) throw unsupported();
    checkAgreement(kind, opts.declaredType, originalName);

    const now = new Date();
    const yyyy = String(now.getUTCFullYear());
    const mm = String(now.getUTCMonth() + 1).padStart(2, '0');
    const storageKey = `${yyyy}/${mm}/${id}.${kind.ext}`;
    const dir = join(opts.uploadDir, yyyy, mm);
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${id}.${kind.ext}`);
    await rename(tmpPath, path);
    return { storageKey, path, kind, size, sha256: hash.digest('hex'), originalName };
  } catch (err) {
    await removeQuietly(tmpPath);
    throw err;
  }
}

export type AttachmentRow = NonNullable<Awaited<ReturnType<typeof findAttachment>>>;

export function findAttachment(db: DbOrTrx, ticketId: string, attachmentId: string) {
  return db.selectFrom('ticket_attachments').selectAll().where('id', '=', attachmentId).where('ticket_id', '=', ticketId).executeTakeFirst();
}

export function listAttachmentRows(db: DbOrTrx, ticketId: string, opts: { cursor?: Cursor; limit: number }) {
  return db
    .selectFrom('ticket_attachments')
    .selectAll()
    .where('ticket_id', '=', ticketId)
    .where(afterCursor(opts.cursor, 'created_at', 'id'))
    .orderBy('created_at')
    .orderBy('id')
    .limit(opts.limit + 1)
    .execute();
}

export function toAttachmentDto(a: AttachmentRow) {
  return {
    id: a.id,
    ticketId: a.ticket_id,
    originalName: a.original_name,
    mimeType: a.mime_type,
    sizeBytes: a.size_bytes,
    sha256: a.sha256,
    uploadedBy: a.uploaded_by,
    createdAt: a.created_at.toISOString(),
  };
}

/** May this actor add to the ticket? 404 when they may not see it, 403 when they may only read it. */
export async function ticketForUpload(db: Db, actor: Actor, ticketId: string) {
  const { ticket, can } = await ticketForActor(db, actor, ticketId);
  if (!can.has('comment')) throw forbidden('You may read this ticket but not add files to it');
  return ticket;
}

/** Records a stored file on its ticket, with its audit event; the file goes if the record does not. */
export async function recordAttachment(db: Db, actor: Actor, ticket: { id: string; community_id: string }, stored: StoredFile) {
  try {
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('ticket_attachments')
        .values({
          ticket_id: ticket.id,
          storage_key: stored.storageKey,
          original_name: stored.originalName,
          mime_type: stored.kind.mime,
          size_bytes: stored.size,
          sha256: stored.sha256,
          uploaded_by: actor.userId,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordAudit(trx, {
        communityId: ticket.community_id,
        actorUserId: actor.userId,
        action: 'ticket.attachment_added',
        entityType: 'ticket',
        entityId: ticket.id,
        after: { attachmentId: row.id, originalName: row.original_name, mimeType: row.mime_type, sizeBytes: row.size_bytes, sha256: row.sha256 },
      });
      return row;
    });
  } catch (err) {
    await removeQuietly(stored.path);
    throw err;
  }
}

/**
 * A file stored by storeUpload, by its storage key, opened for streaming; 404 (naming `what`)
 * when it is missing on disk. Also used for fund request documents.
 */
export async function openStoredFile(uploadDir: string, storageKey: string, what = 'Attachment') {
  const root = resolve(uploadDir);
  const path = resolve(root, storageKey);
  // Storage keys are ours, but a path outside the directory is never served.
  if (!path.startsWith(root + sep)) throw notFound(what);
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) throw notFound(what);
  return { stream: createReadStream(path), size: info.size };
}

/** The stored file of an attachment, opened for streaming; 404 when it is missing on disk. */
export function openAttachment(uploadDir: string, a: AttachmentRow) {
  return openStoredFile(uploadDir, a.storage_key, 'Attachment');
}

/** `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 8187). */
export function contentDisposition(name: string): string {
  const fallback = [...name].map((ch) => (/^[\x20-\x7e]$/.test(ch) && ch !== '"' && ch !== '\\' ? ch : '_')).join('');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
