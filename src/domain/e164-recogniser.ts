import { Metadata } from 'libphonenumber-js/max';
import type { ParsedPhone } from './phone.js';

/**
 * libphonenumber's answer for a valid E.164 number, from its own metadata with the patterns compiled
 * once. libphonenumber builds a `RegExp` from the pattern text at every test (`matchesEntirely`), several
 * times for one NANP number; at a thousand new numbers per send-batch that was the largest part of
 * phone parsing. This follows the library's steps for `+<digits>` (calling code, the country among
 * those sharing it, then `isValid`) and gives up — `undefined`, so the caller asks libphonenumber —
 * wherever the library would do anything more: a national prefix to strip, a non-geographic calling
 * code, no country found, or an invalid number (whose reason the library words).
 * `test/domain/e164-recogniser.test.ts` compares it with libphonenumber across every calling code: it
 * leans on the library's untyped internals, and those tests are what would catch a library update
 * that changed them.
 */
export function recogniseE164(text: string): ParsedPhone | undefined {
  if (!E164_SHAPE.test(text)) return undefined;
  for (let end = 2; end <= 4; end++) {
    const callingCode = text.slice(1, end);
    if (!metadata.hasCallingCode(callingCode)) continue;
    // The library stops at the first calling code it knows, geographic or not.
    const countries = metadata.getCountryCodesForCallingCode(callingCode);
    if (countries === undefined) return undefined;
    return recogniseNational(text, text.slice(end), countries);
  }
  return undefined;
}

/** `+` and 7 to 15 digits, the first not 0. */
export const E164_SHAPE = /^\+[1-9]\d{6,14}$/;

/** The types libphonenumber's `getNumberType` tries; a number is valid when any one matches. */
const NUMBER_TYPES = ['FIXED_LINE', 'MOBILE', 'PREMIUM_RATE', 'TOLL_FREE', 'SHARED_COST', 'VOIP', 'PERSONAL_NUMBER', 'PAGER', 'UAN', 'VOICEMAIL'] as const;

/** The parts of libphonenumber's `Metadata` it uses itself to parse; its typings show only a few. */
interface NumberTypeDefinition {
  pattern(): string;
  possibleLengths(): number[] | undefined;
}
interface NumberingPlan {
  nationalNumberPattern(): string;
  nationalPrefixForParsing(): string | undefined;
  leadingDigits(): string | undefined;
  hasTypes(): boolean;
  type(type: string): NumberTypeDefinition | undefined;
}
interface MetadataInternals {
  hasCallingCode(callingCode: string): boolean;
  getCountryCodesForCallingCode(callingCode: string): string[] | undefined;
  selectNumberingPlan(countryOrCallingCode: string): void;
  numberingPlan: NumberingPlan;
}

const metadata = new Metadata() as unknown as MetadataInternals;

interface CompiledPlan {
  nationalNumber: RegExp;
  nationalPrefix: RegExp | undefined;
  leadingDigits: RegExp | undefined;
  /** Undefined where the plan has no types: then the national number pattern alone decides. */
  types: Array<{ pattern: RegExp; lengths: number[] | undefined }> | undefined;
}

const plans = new Map<string, CompiledPlan>();

function planOf(country: string): CompiledPlan {
  let plan = plans.get(country);
  if (plan === undefined) {
    metadata.selectNumberingPlan(country);
    const source = metadata.numberingPlan;
    const prefix = source.nationalPrefixForParsing();
    const leading = source.leadingDigits();
    plan = {
      nationalNumber: entirely(source.nationalNumberPattern()),
      nationalPrefix: prefix ? new RegExp(`^(?:${prefix})`) : undefined,
      // The library tests `number.search(leadingDigits) === 0`: the same RegExp, unanchored, and search.
      leadingDigits: leading ? new RegExp(leading) : undefined,
      types: source.hasTypes()
        ? NUMBER_TYPES.map((name) => source.type(name))
          .filter((type): type is NumberTypeDefinition => type !== undefined && type.pattern() !== '')
          .map((type) => ({ pattern: entirely(type.pattern()), lengths: type.possibleLengths() }))
        : undefined,
    };
    plans.set(country, plan);
  }
  return plan;
}

function entirely(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

function recogniseNational(e164: string, national: string, countries: string[]): ParsedPhone | undefined {
  // A national prefix the library might strip (and keep stripped if the rest still fits) changes the
  // number: +375 8 10… is read as +375 10…. The library decides those. It looks for the prefix in the
  // plan it selects by calling code, the first country's. A prefix pattern that matches nothing
  // (Argentina's is all optional) strips nothing.
  const prefix = planOf(countries[0]).nationalPrefix?.exec(national);
  if (prefix && prefix[0] !== '') return undefined;
  const country = countries.length === 1 ? countries[0] : countryAmong(countries, national);
  if (country === undefined || !isValidIn(planOf(country), national)) return undefined;
  return { e164, country };
}

/** libphonenumber's `getCountryByNationalNumber`: leading digits where a country has them, else its types. */
function countryAmong(countries: string[], national: string): string | undefined {
  for (const country of countries) {
    const plan = planOf(country);
    if (plan.leadingDigits !== undefined) {
      if (national.search(plan.leadingDigits) === 0) return country;
    } else if (plan.types !== undefined && isValidIn(plan, national)) {
      // `getNumberType`, which this is, finds no type in a plan without types.
      return country;
    }
  }
  return undefined;
}

/** libphonenumber's `isValid`: `getNumberType` is defined, or the national pattern where there are no types. */
function isValidIn(plan: CompiledPlan, national: string): boolean {
  if (!plan.nationalNumber.test(national)) return false;
  if (plan.types === undefined) return true;
  return plan.types.some((type) => (type.lengths === undefined || type.lengths.includes(national.length)) && type.pattern.test(national));
}
