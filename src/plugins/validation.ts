import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

function makeAjv(coerce: boolean) {
  const options: Options = {
    // Query strings and path parameters arrive as text and need coercion ("20" → 20); JSON
    // bodies already carry types, and coercing them would let 123 pass for a string.
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  };
  const ajv = new Ajv(options);
  addFormats(ajv);
  // RFC 3339 allows a leap second ("2026-12-31T23:59:60Z") and ajv-formats accepts it, but a
  // JavaScript Date cannot hold one: new Date(value) is Invalid Date and toISOString() throws
  // (a 500). A date-time must also be one JavaScript can read.
  const dateTime = ajv.formats['date-time'] as { validate: (value: string) => boolean; compare?: (a: string, b: string) => number | undefined };
  ajv.addFormat('date-time', { type: 'string', compare: dateTime.compare, validate: (value: string) => dateTime.validate(value) && !Number.isNaN(Date.parse(value)) });
  return ajv;
}

/** Request validation: coercion for querystring, params and headers only, never for bodies. */
export function installValidators(app: FastifyInstance): void {
  const bodyAjv = makeAjv(false);
  const textAjv = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema));
}
