import { existsSync, statSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';

/** The built console (`npm run build:web`, or `npm start`'s prestart). */
export const WEB_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../web/dist');

/**
 * The console's client-side paths (web/src/routes.ts; the e2e test keeps the two lists equal).
 * Only these answer index.html: any other path, /api/… first of all, stays the API's JSON 404.
 */
export const CONSOLE_PATHS = [
  '/',
  '/login',
  '/q/:token',
  '/dashboard',
  '/tickets',
  '/tickets/new',
  '/tickets/:id',
  '/facilities',
  '/facilities/labels',
  '/duties',
  '/inspections',
  '/funds',
  '/funds/new',
  '/funds/:id',
  '/funds/:id/notice',
  '/my/tickets',
  '/my/report',
  '/my/ballots',
  '/my/ledger',
  '/authority',
] as const;

// The console loads only its own files; QR labels are data: URLs.
const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/**
 * The web console at `/`: index.html for its client paths, its hashed bundles under /assets/.
 * Registered without fastify-plugin on purpose: @fastify/static's reply decorator stays in this
 * scope (the Swagger UI registers its own).
 */
export default async function webPlugin(app: FastifyInstance, opts: { root?: string }) {
  const root = opts.root ?? WEB_DIST;
  await app.register(fastifyStatic, { root, serve: false, index: false });

  const notBuilt = (reply: FastifyReply) =>
    reply.status(503).type('text/plain; charset=utf-8').send('The web console is not built: run `npm run build:web` (npm start does it for you).');

  const page = async (_req: unknown, reply: FastifyReply) => {
    if (!existsSync(resolve(root, 'index.html'))) return notBuilt(reply);
    return reply.header('content-security-policy', CONSOLE_CSP).header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };
  for (const path of CONSOLE_PATHS) app.get(path, { schema: { hide: true } }, page);

  // Hashed file names never change: cached for good. A missing one is a 404 (a stale tab asking
  // for an old bundle), never the page.
  app.get<{ Params: { '*': string } }>('/assets/*', { schema: { hide: true } }, async (req, reply) => {
    const name = `assets/${req.params['*']}`;
    const file = resolve(root, name);
    if (!file.startsWith(resolve(root, 'assets') + sep) || !existsSync(file) || !statSync(file).isFile()) return reply.callNotFound();
    return reply.sendFile(name, { maxAge: 365 * 86_400_000, immutable: true, cacheControl: true });
  });
}
