import fc from 'fast-check';
import { getCountries, getCountryCallingCode, getExampleNumber, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/examples.mobile.json' with { type: 'json' };
import { describe, expect, it } from 'vitest';
import { recogniseE164 } from '../../src/domain/e164-recogniser.js';

/** What libphonenumber says of a number when it is valid, else undefined. */
function library(text: string) {
  const parsed = parsePhoneNumberFromString(text);
  return parsed?.isValid() ? { e164: parsed.number, country: parsed.country } : undefined;
}

const callingCodes = [...new Set(getCountries().map((country) => getCountryCallingCode(country)))];
const exampleNationals = getCountries().flatMap((country) => {
  const example = getExampleNumber(country, examples);
  return example ? [{ country, callingCode: String(example.countryCallingCode), national: String(example.nationalNumber) }] : [];
});

describe('recogniseE164', () => {
  it('answers as libphonenumber does for every country\'s example mobile number', () => {
    let answered = 0;
    for (const { callingCode, national } of exampleNationals) {
      const text = `+${callingCode}${national}`;
      const recognised = recogniseE164(text);
      if (recognised !== undefined) {
        answered++;
        expect(recognised, text).toEqual(library(text));
      }
    }
    // It leaves only the library's harder cases to the library (a national prefix that may be stripped).
    expect(answered).toBeGreaterThan(exampleNationals.length * 0.95);
  });

  it('agrees with libphonenumber on numbers near the examples: the same country\'s prefix, other digits', () => {
    let answered = 0;
    fc.assert(fc.property(
      fc.constantFrom(...exampleNationals),
      fc.integer({ min: 1, max: 6 }),
      fc.stringMatching(/^\d{6}$/),
      fc.integer({ min: -1, max: 1 }),
      ({ callingCode, national }, keep, digits, lengthChange) => {
        const prefix = national.slice(0, Math.min(keep, national.length - 1));
        const length = Math.max(prefix.length + 1, national.length + lengthChange);
        const text = `+${callingCode}${(prefix + digits.repeat(3)).slice(0, length)}`;
        const recognised = recogniseE164(text);
        // Where it answers, it is the library's answer; it may leave any number to the library.
        if (recognised === undefined) return;
        answered++;
        expect(recognised, text).toEqual(library(text));
      },
    ), { numRuns: 20_000 });
    expect(answered).toBeGreaterThan(1000);
  });

  it('agrees with libphonenumber on any digits after any calling code', () => {
    fc.assert(fc.property(
      fc.constantFrom(...callingCodes),
      fc.stringMatching(/^\d{4,14}$/),
      (callingCode, national) => {
        const text = `+${callingCode}${national}`;
        const recognised = recogniseE164(text);
        if (recognised !== undefined) expect(recognised, text).toEqual(library(text));
      },
    ), { numRuns: 20_000 });
  });

  it('tells the countries that share +1 apart as the library does', () => {
    const seen = new Set<string>();
    fc.assert(fc.property(fc.stringMatching(/^[2-9]\d{2}[2-9]\d{6}$/), (national) => {
      const text = `+1${national}`;
      const recognised = recogniseE164(text);
      expect(recognised, text).toEqual(library(text));
      if (recognised?.country) seen.add(recognised.country);
    }), { numRuns: 20_000 });
    expect(seen.has('US') && seen.has('CA')).toBe(true);
    expect(seen.size).toBeGreaterThan(5);
  });

  it('leaves what is not a bare E.164 number, or not valid, to the library', () => {
    expect(recogniseE164('+1 415 555 2671')).toBeUndefined();
    expect(recogniseE164('14155552671')).toBeUndefined();
    expect(recogniseE164('+1415555267')).toBeUndefined(); // too short for the US
    expect(recogniseE164('+80012345678')).toBeUndefined(); // non-geographic (international freephone)
    // Belarus's national prefix 8 is stripped by the library (+375 10 247 77 47, not valid): not ours to decide.
    expect(library('+3758102477747')).toBeUndefined();
    expect(recogniseE164('+3758102477747')).toBeUndefined();
    // Argentina's prefix pattern is all optional: where it matches nothing, the number is answered here.
    expect(recogniseE164('+5491123456789')).toEqual(library('+5491123456789'));
    expect(recogniseE164('+5491123456789')).toBeDefined();
    expect(recogniseE164('+14155552671')).toEqual({ e164: '+14155552671', country: 'US' });
    expect(recogniseE164('+447400123456')).toEqual({ e164: '+447400123456', country: 'GB' });
  });
});
