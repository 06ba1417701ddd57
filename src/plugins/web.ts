import { existsSync, statSync } from 'node:fs';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';

/** The built console (`npm run build:web`, or `npm start`'s prestart). */
export const WEB_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../web/dist');

// Paths the console must never answer for: an unknown API route stays a JSON 404.
const RESERVED = new Set(['api', 'healthz', 'readyz', 'metrics', 'admin', 'docs']);

// The console loads only its own files; photos are shown from blob: URLs, QR labels are data: URLs.
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
 * The web console at `/`: files of web/dist, and index.html for any other path (client-side
 * routes such as /tickets/123 or /q/<token>). Registered without fastify-plugin on purpose:
 * @fastify/static's reply decorator stays in this scope (the Swagger UI has its own).
 */
export default async function webPlugin(app: FastifyInstance, opts: { root?: string }) {
  const root = opts.root ?? WEB_DIST;
  await app.register(fastifyStatic, { root, serve: false, index: false });

  const handler = async (path: string, reply: FastifyReply) => {
    const first = path.split('/')[0] ?? '';
    if (RESERVED.has(first)) return reply.callNotFound();
    if (!existsSync(resolve(root, 'index.html'))) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The web console is not built: run `npm run build:web` (npm start does it for you).');
    }
    reply.header('content-security-policy', CONSOLE_CSP);
    if (path !== '' && extname(path) !== '') {
      const file = resolve(root, path);
      // A file of the build (never outside it); hashed assets never change, so cache them for good.
      if (file.startsWith(root + sep) && existsSync(file) && statSync(file).isFile()) {
        const immutable = path.startsWith('assets/');
        return reply.sendFile(path, { maxAge: immutable ? 365 * 86_400_000 : 0, immutable, cacheControl: true });
      }
      // A missing asset is a 404, not the page (a stale tab asking for an old bundle).
      if (path.startsWith('assets/')) return reply.callNotFound();
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };

  app.get('/', { schema: { hide: true } }, (_req, reply) => handler('', reply));
  app.get<{ Params: { '*': string } }>('/*', { schema: { hide: true } }, (req, reply) => handler(req.params['*'] ?? '', reply));
}
