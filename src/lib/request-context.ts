import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * The request id of the work in progress, carried implicitly (AsyncLocalStorage) from where it
 * starts to where jobs are made:
 * - the API runs each request's handler inside runWithRequestId(request.id) (src/plugins/request-context.ts);
 * - repositories that write outbox rows (timers, email notifications) store currentRequestId()
 *   with them, and the relay and reconciler put it into the job's data;
 * - the worker runs each job inside runWithRequestId(job.data.requestId) and adds it to the
 *   job's logger, so what a job schedules in turn carries the same id.
 * Domain code never passes it around. Outside any request or job it is undefined.
 */
const storage = new AsyncLocalStorage<{ requestId: string }>();

export function runWithRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestId ? storage.run({ requestId }, fn) : storage.exit(fn);
}

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** An incoming X-Request-Id is kept only if it is a sane token: 1–128 of [A-Za-z0-9._:-]. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id of an incoming request: the caller's X-Request-Id when it is sane, else a new UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : randomUUID();
}

export const REQUEST_ID_HEADER = 'x-request-id';
