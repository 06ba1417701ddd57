import type { IncomingMessage, ServerResponse } from 'node:http';
import fp from 'fastify-plugin';
import helmet from 'helmet';

/**
 * Helmet's default security headers (CSP, HSTS, nosniff, frame and referrer policies…) on every
 * response, the web console's included. Our helmet options never vary by request (no nonces, no
 * functions), so its middleware is run once, at start, against a recording response, and what it
 * set is replayed on each response: the same headers without thirteen middleware calls per
 * request (@fastify/helmet even rebuilds the middleware per request; both cost about as much CPU as
 * verifying the request's token).
 */
function helmetHeaders(): { set: Array<[string, string]>; removed: string[] } {
  const set: Array<[string, string]> = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => set.push([name, String(value)]),
    removeHeader: (name: string) => removed.push(name),
  };
  let finished = false;
  helmet()({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err instanceof Error ? err : new Error(String(err));
    finished = true;
  });
  // Helmet's middleware is synchronous; if a future version were not, fail at start, not silently.
  if (!finished) throw new Error('helmet did not finish synchronously: security headers cannot be precomputed');
  return { set, removed };
}

export default fp(
  async (app) => {
    const { set, removed } = helmetHeaders();
    app.addHook('onRequest', (_request, reply, done) => {
      for (const name of removed) reply.raw.removeHeader(name);
      for (const [name, value] of set) reply.raw.setHeader(name, value);
      done();
    });
  },
  { name: 'security-headers' },
);
