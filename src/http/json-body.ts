import { isUtf8 } from 'node:buffer';
import type { FieldError } from '../domain/errors.js';

/** Deeper than any request of this API needs; also bounds every later recursive walk. */
export const MAX_JSON_DEPTH = 32;

export type JsonBodyResult = { ok: true; value: unknown } | { ok: false; status: 400 | 422; detail: string; errors: FieldError[] };

/** `["to", 0, "number"]` -> `to[0].number`, as a client wrote the field. */
function fieldName(path: Array<string | number>): string {
  return path.reduce<string>((name, part) => (typeof part === 'number' ? `${name}[${part}]` : name ? `${name}.${part}` : part), '') || 'body';
}

/**
 * The first string (key or value) that is not well-formed Unicode, or that holds a U+FFFD
 * the decoder put in place of bytes that were not UTF-8.
 */
function findBadText(value: unknown, replacedBytes: boolean): { path: Array<string | number>; problem: string } | undefined {
  const path: Array<string | number> = [];
  const badString = (s: string) => !s.isWellFormed() ? 'contains a lone surrogate (not valid Unicode)'
    : replacedBytes && s.includes('\uFFFD') ? 'is not valid UTF-8'
      // PostgreSQL text cannot hold NUL, and no SMS or identifier needs it.
      : s.includes('\u0000') ? 'contains a NUL character' : undefined;
  // Recursion is bounded: exceedsDepth refused anything deeper than MAX_JSON_DEPTH before parsing.
  const walk = (v: unknown): string | undefined => {
    if (typeof v === 'string') return badString(v);
    if (v === null || typeof v !== 'object') return undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        const problem = walk(v[i]);
        if (problem) return problem;
        path.pop();
      }
      return undefined;
    }
    for (const key of Object.keys(v)) {
      path.push(key);
      const problem = badString(key) ?? walk((v as Record<string, unknown>)[key]);
      if (problem) return problem;
      path.pop();
    }
    return undefined;
  };
  const problem = walk(value);
  return problem ? { path, problem } : undefined;
}

/**
 * Nesting depth of a JSON text, stopping as soon as it passes `limit`. Run before JSON.parse:
 * parsing a 2 MB run of `[` takes the event loop most of a second.
 */
function exceedsDepth(raw: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * Parses a JSON request body, refusing what would be mangled or dangerous later: bytes that
 * are not UTF-8, lone surrogates (they would reach a phone as garbage) and nesting deep enough
 * to overflow a recursive walk (validation, serialisation). Each refusal names the field.
 */
export function parseJsonBody(raw: Buffer): JsonBodyResult & { text: string } {
  const text = raw.toString('utf8');
  if (text.trim() === '') return { ok: true, value: undefined, text };
  if (exceedsDepth(raw, MAX_JSON_DEPTH)) {
    return { ok: false, status: 422, detail: `body is nested deeper than ${MAX_JSON_DEPTH} levels`, errors: [{ field: 'body', message: `is nested deeper than ${MAX_JSON_DEPTH} levels` }], text };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, status: 400, detail: `malformed JSON: ${(err as Error).message}`, errors: [{ field: 'body', message: 'is not valid JSON' }], text };
  }
  const bad = findBadText(value, !isUtf8(raw));
  if (bad) {
    const field = fieldName(bad.path);
    return { ok: false, status: 422, detail: `${field} ${bad.problem}`, errors: [{ field, message: bad.problem }], text };
  }
  if (!isUtf8(raw)) return { ok: false, status: 422, detail: 'body is not valid UTF-8', errors: [{ field: 'body', message: 'is not valid UTF-8' }], text };
  return { ok: true, value, text };
}
