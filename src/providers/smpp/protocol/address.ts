/** type_of_number and numbering_plan_indicator (SMPP 3.4, 5.2.5 and 5.2.6). */
export const TON = { UNKNOWN: 0, INTERNATIONAL: 1, NATIONAL: 2, NETWORK_SPECIFIC: 3, ALPHANUMERIC: 5 } as const;
export const NPI = { UNKNOWN: 0, ISDN: 1 } as const;

export interface SmppAddress {
  ton: number;
  npi: number;
  addr: string;
}

/** Longest sender a short code is taken to be; longer digit strings are international numbers. */
const SHORT_CODE_MAX_DIGITS = 8;

/**
 * A sender as SMPP wants it: an international number 1/1 without its `+`, an alphanumeric id
 * 5/0, a short code 3/0; none at all 0/0 and empty, so the SMSC puts its default.
 */
export function sourceAddress(sender: string | undefined): SmppAddress {
  const value = sender?.trim() ?? '';
  if (value === '') return { ton: TON.UNKNOWN, npi: NPI.UNKNOWN, addr: '' };
  if (/^\+\d+$/.test(value)) return { ton: TON.INTERNATIONAL, npi: NPI.ISDN, addr: value.slice(1) };
  if (/^\d+$/.test(value)) {
    return value.length <= SHORT_CODE_MAX_DIGITS ? { ton: TON.NETWORK_SPECIFIC, npi: NPI.UNKNOWN, addr: value } : { ton: TON.INTERNATIONAL, npi: NPI.ISDN, addr: value };
  }
  return { ton: TON.ALPHANUMERIC, npi: NPI.UNKNOWN, addr: value };
}

/** Our recipients are E.164: international, ISDN plan, digits only. */
export function destinationAddress(e164: string): SmppAddress {
  return { ton: TON.INTERNATIONAL, npi: NPI.ISDN, addr: e164.replace(/^\+/, '') };
}

/**
 * An address an SMPP peer sent, as the rest of the gateway writes numbers: international ones
 * with a `+`; anything else (national, unknown, alphanumeric) as written, for phone-number parsing
 * with DEFAULT_COUNTRY to make sense of.
 */
export function addressText(ton: number, addr: string): string {
  const value = addr.trim();
  if (ton === TON.INTERNATIONAL && /^\d+$/.test(value)) return `+${value}`;
  return value;
}
