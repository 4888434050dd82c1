import { createHash, createHmac, randomBytes } from 'node:crypto';

export const SCOPES = ['sms:send', 'otp', 'templates:write', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling: an API key, or (keys off, no key given) the operator, who may do everything. */
export interface Caller {
  keyId: string | null;
  scopes: readonly Scope[];
}

export const OPERATOR: Caller = { keyId: null, scopes: ['admin'] };

/** `admin` implies every scope. */
export function hasScope(caller: Caller, needed: Scope): boolean {
  return caller.scopes.includes('admin') || caller.scopes.includes(needed);
}

export function isAdmin(caller: Caller): boolean {
  return caller.scopes.includes('admin');
}

/** Whether a caller may see a row made by `keyId`: admins see everything, keys their own. */
export function owns(caller: Caller, keyId: string | null): boolean {
  return isAdmin(caller) || (caller.keyId !== null && caller.keyId === keyId);
}

/** 256 random bits: a fast keyed hash is then as safe to store as a slow password hash, and costs microseconds per request. */
export function generateApiKey(): string {
  return `sgw_${randomBytes(32).toString('base64url')}`;
}

export function apiKeyHash(hashKey: Buffer, key: string): string {
  return createHmac('sha256', hashKey).update(key).digest('hex');
}

/** The key's Twilio-style account id (`AC` + 32 hex), derived from its id so it never changes. */
export function accountSid(keyId: string): string {
  return `AC${createHash('sha256').update(keyId).digest('hex').slice(0, 32)}`;
}
