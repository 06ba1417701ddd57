import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.js';

// PostgreSQL error classes that mean "the database is not there right now" (connection
// exceptions, operator intervention such as shutdown, insufficient resources).
const PG_UNAVAILABLE = /^(08|57P|53)/;
const NODE_CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);

interface PgLikeError {
  code?: string;
  constraint?: string;
  detail?: string;
  message: string;
}

/** Stable, readable codes for Fastify's own client errors. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
};

/**
 * PostgreSQL errors caused by a value the client sent that the schema let through: invalid text
 * representation (22P02), datetime format and range (22007, 22008, and 22009 for a time zone
 * displacement, e.g. "+275760-09-13" that Date.parse accepts), string too long (22001),
 * numeric out of range (22003), a NUL or invalid byte sequence (22021), an untranslatable
 * character (22P05), an invalid regular expression or escape (2201B, 22025, 22019), and a value
 * too large for an index row (54000).
 */
const VALUE_ERRORS = new Set(['22P02', '22007', '22008', '22009', '22001', '22003', '22021', '22P05', '2201B', '22025', '22019', '54000']);

/**
 * Fastify's own errors raised before a route is found (a malformed or an overlong URL): the
 * Fastify `frameworkErrors` option, so they answer in the error shape too.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_BAD_URL') {
    void reply.status(400).send({ error: { code: 'BAD_URL', message: 'The URL is not valid (a malformed percent-encoding?)' } });
  } else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.status(414).send({ error: { code: 'URI_TOO_LONG', message: 'A path parameter is too long' } });
  } else {
    request.log.error({ err }, 'framework error');
    void reply.status(500).send({ error: { code: 'INTERNAL_ERROR', message: 'Something went wrong on our side; it has been logged' } });
  }
}

function isConnectionProblem(err: PgLikeError): boolean {
  if (err.code && (PG_UNAVAILABLE.test(err.code) || NODE_CONNECTION_ERRORS.has(err.code))) return true;
  // node-postgres reports a lost server as plain Errors: the connection ended (mid-statement or
  // while the client was checked out), the pool could not connect in time, or a statement was
  // sent on a client whose connection had failed (e.g. the ROLLBACK after a failed statement,
  // whose error then replaces the original one).
  return /Connection terminated|timeout exceeded when trying to connect|is not queryable|Query read timeout|Connection is closed|connect ECONNREFUSED/i.test(err.message);
}

/** Maps every failure to { error: { code, message, details? } } with the right status. */
export default fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError & PgLikeError, request, reply) => {
      if (err instanceof AppError) {
        return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message, details: err.details } });
      }
      if (err.validation) {
        const details = err.validation.map((v) => {
          // The offending field: the value's path, plus the property itself when the complaint
          // is about a missing or an extra property (Ajv reports those against the parent object).
          const params = (v.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
          const field = [v.instancePath.slice(1).replaceAll('/', '.'), params.missingProperty ?? params.additionalProperty]
            .filter((s) => s !== undefined && s !== '')
            .join('.');
          return { field, in: err.validationContext, message: v.message };
        });
        return reply.status(400).send({ error: { code: 'VALIDATION_ERROR', message: `Invalid ${err.validationContext ?? 'request'}: ${err.message}`, details } });
      }
      if (err.code === '23505') {
        return reply.status(409).send({ error: { code: 'CONFLICT', message: 'A record with the same unique value already exists', details: { constraint: err.constraint } } });
      }
      if (err.code === '23503') {
        return reply.status(422).send({ error: { code: 'RULE_VIOLATION', message: 'A referenced record does not exist', details: { constraint: err.constraint } } });
      }
      if (err.code === '23514' || err.code === '23502') {
        // A check or not-null constraint caught a value the route's schema let through.
        return reply.status(400).send({ error: { code: 'VALIDATION_ERROR', message: 'A value is not allowed here', details: { constraint: err.constraint } } });
      }
      if (err.code && VALUE_ERRORS.has(err.code)) {
        return reply.status(400).send({ error: { code: 'VALIDATION_ERROR', message: 'A value has the wrong format' } });
      }
      if (isConnectionProblem(err)) {
        request.log.error({ err }, 'dependency unavailable');
        reply.header('retry-after', '5');
        return reply.status(503).send({ error: { code: 'SERVICE_UNAVAILABLE', message: 'A backing service is unavailable; try again shortly' } });
      }
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) {
        request.log.error({ err }, 'unhandled error');
        return reply.status(500).send({ error: { code: 'INTERNAL_ERROR', message: 'Something went wrong on our side; it has been logged' } });
      }
      // Fastify's own client errors (bad JSON, body too large, unsupported media type…).
      const code = (err.code && FASTIFY_CODES[err.code]) ?? (err.code?.startsWith('FST_') ? err.code.replace(/^FST_(ERR_)?/, '') : 'BAD_REQUEST');
      return reply.status(status).send({ error: { code, message: err.message } });
    });

    app.setNotFoundHandler((request, reply) => {
      reply.status(404).send({ error: { code: 'NOT_FOUND', message: `Route ${request.method} ${request.url.split('?')[0]} not found` } });
    });
  },
  { name: 'errors' },
);
