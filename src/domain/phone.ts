import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { E164_SHAPE, recogniseE164 } from './e164-recogniser.js';

export type PhoneValidationMode = 'strict' | 'format';

export interface ParsedPhone {
  e164: string;
  country: string | undefined;
}

export type PhoneResult = { ok: true; phone: ParsedPhone } | { ok: false; reason: string };

/**
 * A number field holds a number: digits, a leading `+`, and the punctuation people type
 * between digit groups. libphonenumber would otherwise pull a number out of free text
 * ("call +14155552671 now") or silently drop an extension ("... ext. 5").
 */
const DIALLABLE = /^\+?[ (]*[0-9][0-9 ().\-/]*$/;
function isDiallable(text: string): boolean {
  return DIALLABLE.test(text);
}
const NOT_A_NUMBER = 'holds characters that are not part of a phone number (digits, a leading +, spaces, ( ) . - / only)';

const recent = new Map<string, PhoneResult>();
const RECENT_LIMIT = 10_000;

/**
 * Normalises a recipient to E.164. `strict` needs a number valid for its country
 * (libphonenumber's full metadata); `format` accepts any E.164-shaped number, for test networks.
 */
export function normalisePhone(input: string, countryCode: string | undefined, mode: PhoneValidationMode): PhoneResult {
  // Parsing with full metadata costs ~30 µs; the same users get OTPs and notices again and again.
  const key = `${mode}|${countryCode ?? ''}|${input}`;
  let result = recent.get(key);
  if (result === undefined) {
    result = parsePhone(input, countryCode, mode);
    if (recent.size >= RECENT_LIMIT) recent.clear();
    recent.set(key, result);
  }
  return result;
}

function parsePhone(input: string, countryCode: string | undefined, mode: PhoneValidationMode): PhoneResult {
  const raw = input.trim();
  if (raw.length === 0) return { ok: false, reason: 'phone number is empty' };
  if (!isDiallable(raw)) return { ok: false, reason: NOT_A_NUMBER };
  if (mode === 'strict') {
    const recognised = recogniseE164(raw);
    if (recognised !== undefined) return { ok: true, phone: recognised };
  }
  const country = countryCode?.toUpperCase() as CountryCode | undefined;
  const parsed = parsePhoneNumberFromString(raw, country ? { defaultCountry: country } : undefined);
  if (mode === 'format') {
    const e164 = parsed?.number ?? raw.replace(/[\s().-]/g, '');
    if (!E164_SHAPE.test(e164)) return { ok: false, reason: 'not an E.164 number (+ and 7 to 15 digits)' };
    return { ok: true, phone: { e164, country: parsed?.country } };
  }
  if (!parsed) {
    return { ok: false, reason: raw.startsWith('+') || country ? 'not a phone number' : 'national number without a country: give country_code or use E.164' };
  }
  if (!parsed.isValid()) {
    const where = parsed.country ?? country;
    return { ok: false, reason: where ? `not a valid ${where} phone number` : 'not a valid phone number for any country' };
  }
  return { ok: true, phone: { e164: parsed.number, country: parsed.country } };
}

export interface PhoneReport {
  input: string;
  valid: boolean;
  possible: boolean;
  e164: string | null;
  national_format: string | null;
  international_format: string | null;
  country_code: string | null;
  calling_code: string | null;
  type: string | null;
  reason: string | null;
}

/** Everything libphonenumber knows about a number, for GET /api/phone/validate. */
export function describePhone(input: string, countryCode: string | undefined): PhoneReport {
  const country = countryCode?.toUpperCase() as CountryCode | undefined;
  if (!isDiallable(input.trim())) {
    return { input, valid: false, possible: false, e164: null, national_format: null, international_format: null, country_code: null, calling_code: null, type: null, reason: NOT_A_NUMBER };
  }
  const parsed = parsePhoneNumberFromString(input.trim(), country ? { defaultCountry: country } : undefined);
  if (!parsed) {
    return {
      input, valid: false, possible: false, e164: null, national_format: null, international_format: null,
      country_code: null, calling_code: null, type: null,
      reason: input.trim().startsWith('+') || country ? 'not a phone number' : 'national number without a country: give country_code or use E.164',
    };
  }
  const valid = parsed.isValid();
  const possible = parsed.isPossible();
  return {
    input,
    valid,
    possible,
    e164: parsed.number,
    national_format: parsed.formatNational(),
    international_format: parsed.formatInternational(),
    country_code: parsed.country ?? null,
    calling_code: parsed.countryCallingCode,
    type: (parsed.getType() ?? null)?.toLowerCase() ?? null,
    reason: valid ? null : possible ? 'number is possible but not assigned in its country\'s numbering plan' : 'wrong length for its country',
  };
}
