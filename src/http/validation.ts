import { Ajv, type Options } from 'ajv';
import formatsModule, { type FormatsPlugin } from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS: under NodeNext its function is the `default` property of what is imported.
const addFormats = (formatsModule as unknown as { default: FormatsPlugin }).default;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * A date-time the rest of the gateway can use: RFC 3339 in shape *and* a real instant.
 * ajv's own format accepts a leap second (`23:59:60`) that Date cannot represent, which
 * then filtered as NaN or failed deep in SQL.
 */
function isUsableDateTime(value: string): boolean {
  return RFC3339.test(value) && !Number.isNaN(Date.parse(value));
}

function ajvFor(coerceTypes: Options['coerceTypes']): Ajv {
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: true, allErrors: true, strict: false, addUsedSchema: false });
  addFormats(ajv);
  ajv.addFormat('date-time', { type: 'string', validate: isUsableDateTime });
  return ajv;
}

/**
 * JSON bodies are taken as typed: `"message": 12345` or `"priority": "3"` is a 422, not a
 * silent conversion. Query strings, path parameters and headers are text by nature, so there
 * numbers and booleans are coerced.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = ajvFor(false);
  const coercing = ajvFor('array');
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
}
