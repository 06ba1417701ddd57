import { Type, type TProperties, type TSchema } from '@fastify/type-provider-typebox';

/** Schemas shared by every module. */

export const Uuid = Type.String({ format: 'uuid' });

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'ErrorResponse', description: 'Every error answers in this shape' },
);

const errorRef = Type.Unsafe<{ error: { code: string; message: string; details?: unknown } }>(Type.Ref('ErrorResponse'));

/** The error responses a route may give, for its schema (and so for the OpenAPI document). */
export function errors(...codes: Array<400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 423 | 429 | 503>) {
  return Object.fromEntries(codes.map((c) => [c, errorRef])) as Record<number, typeof errorRef>;
}

/** Errors every authenticated route can answer with. */
export const authErrors = [400, 401, 403, 404, 429, 503] as const;

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor from the previous page' })),
});

export function Page<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as ?cursor= for the next page; null at the end' }),
  });
}

export const IdParams = Type.Object({ id: Uuid });
export const Timestamp = Type.String({ format: 'date-time' });

/** A string enum (one JSON-schema `enum`, so the OpenAPI document lists the values). */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string; default?: T[number] } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** A list query: cursor pagination plus the route's own filters. */
export function ListQuery<P extends TProperties>(filters: P) {
  return Type.Object({ ...PageQuery.properties, ...filters });
}
