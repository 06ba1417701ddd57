import fp from 'fastify-plugin';
import helmet from 'helmet';

/**
 * Helmet's default security headers (CSP, HSTS, nosniff, frame and referrer policies…) on every
 * response, the web console's included. @fastify/helmet builds helmet's middleware anew on every
 * request (its options may differ per route; ours never do), which cost about as much CPU as
 * verifying the request's token; the same middleware is built once here.
 */
export default fp(
  async (app) => {
    const applyHeaders = helmet();
    app.addHook('onRequest', (request, reply, done) => {
      applyHeaders(request.raw, reply.raw, (err?: unknown) => done(err instanceof Error ? err : undefined));
    });
  },
  { name: 'security-headers' },
);
