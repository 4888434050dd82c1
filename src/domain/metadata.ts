import type { FieldError } from './errors.js';

/**
 * What a client may attach to a message, after Stripe's metadata limits: enough to correlate
 * a message with the application's own records, too little to turn the gateway into storage
 * (every message, callback and listing carries it).
 */
export const METADATA_LIMITS = { keys: 50, keyLength: 40, valueLength: 500, bytes: 4096 } as const;

/** Problems with a metadata object the schema has already shaped (at most `keys` keys of bounded length). */
export function metadataProblems(metadata: Record<string, unknown> | undefined, field = 'metadata'): FieldError[] {
  if (metadata === undefined) return [];
  const problems: FieldError[] = [];
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value === 'string' && value.length > METADATA_LIMITS.valueLength) {
      problems.push({ field: `${field}.${key}`, message: `is ${value.length} characters; at most ${METADATA_LIMITS.valueLength}` });
    }
  }
  if (problems.length > 0) return problems;
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > METADATA_LIMITS.bytes) problems.push({ field, message: `is ${bytes} bytes as JSON; at most ${METADATA_LIMITS.bytes}` });
  return problems;
}

/** Metadata as stored: JSON, or null when there is none. */
export function serialiseMetadata(metadata: Record<string, unknown> | undefined): string | null {
  return metadata && Object.keys(metadata).length > 0 ? JSON.stringify(metadata) : null;
}
