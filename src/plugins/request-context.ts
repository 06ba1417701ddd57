import fp from 'fastify-plugin';
import { REQUEST_ID_HEADER, runWithRequestId } from '../lib/request-context.js';

/**
 * Request ids (see src/lib/request-context.ts): the id (the caller's X-Request-Id if sane, else
 * a new UUID; genReqId in src/app.ts) is returned in X-Request-Id, is in every log line of the
 * request (`requestId`), and the handler runs with it as the current request id, so timers and
 * emails the request causes carry it into their jobs' logs.
 */
export default fp(
  async (app) => {
    app.addHook('onRequest', (request, reply, done) => {
      reply.header(REQUEST_ID_HEADER, request.id);
      done();
    });
    // After parsing and validation, just before the route's own preHandlers and the handler: a
    // callback-style hook whose done() is called inside the context, so everything the handler
    // awaits runs in it. (Set earlier, the context would not survive the body being read.)
    app.addHook('preHandler', (request, _reply, done) => {
      runWithRequestId(request.id, done);
    });
  },
  { name: 'request-context' },
);
