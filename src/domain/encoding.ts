/**
 * GSM 03.38 / UCS-2 encoding choice and SMS segmentation, counted the way Twilio
 * counts (their `sms-segments-calculator` is the oracle in test/domain).
 *
 * A single SMS carries 140 octets. Once a message needs more than one part, each part
 * loses 6 octets to the concatenation header: 160 -> 153 septets (GSM-7),
 * 70 -> 67 UTF-16 code units (UCS-2), 140 -> 134 octets (binary).
 */

export type Encoding = 'GSM-7' | 'UCS-2' | 'binary';
export type MessageType = 'text' | 'unicode' | 'binary' | 'flash';

const GSM7_BASIC =
  '\n\r !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz' +
  '¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ';
/** Extension table characters: sent as ESC + char, so they cost two septets. */
const GSM7_EXTENSION = '\f[\\]^{|}~€';

/** Septets per UTF-16 code unit: 0 = not in GSM 03.38. A flat table keeps the hot path branch-free. */
const SEPTETS = new Uint8Array(0x10000);
for (const ch of GSM7_BASIC) SEPTETS[ch.charCodeAt(0)] = 1;
for (const ch of GSM7_EXTENSION) SEPTETS[ch.charCodeAt(0)] = 2;

const OCTETS_PER_SMS = 140;
const UDH_OCTETS = 6;
const GSM7_SINGLE = 160;
const GSM7_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PART = 67;
const BINARY_SINGLE = OCTETS_PER_SMS;
const BINARY_PART = OCTETS_PER_SMS - UDH_OCTETS;

export interface Segmentation {
  encoding: Encoding;
  segments: number;
  /** Units the body costs: septets (GSM-7), UTF-16 code units (UCS-2) or octets (binary). */
  units: number;
  /** Characters as a person counts them (code points). */
  characters: number;
}

export function isGsm7(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (SEPTETS[text.charCodeAt(i)] === 0) return false;
  return true;
}

export function gsm7Septets(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) n += SEPTETS[text.charCodeAt(i)];
  return n;
}

export function encodingFor(text: string, messageType: MessageType): Encoding {
  if (messageType === 'binary') return 'binary';
  if (messageType === 'unicode') return 'UCS-2';
  return isGsm7(text) ? 'GSM-7' : 'UCS-2';
}

const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The indivisible pieces of a text and what each costs: a GSM-7 character (1 or 2 septets),
 * or a UCS-2 grapheme (its UTF-16 length; a surrogate pair or an emoji sequence never splits).
 */
function units(text: string, encoding: Encoding): Array<[string, number]> {
  if (encoding === 'GSM-7') {
    const out: Array<[string, number]> = [];
    for (let i = 0; i < text.length; i++) out.push([text[i], SEPTETS[text.charCodeAt(i)]]);
    return out;
  }
  const out: Array<[string, number]> = [];
  for (const { segment } of graphemeSegmenter.segment(text)) {
    // Twilio treats CRLF as two characters, not one grapheme.
    if (segment === '\r\n') {
      out.push(['\r', 1], ['\n', 1]);
    } else {
      out.push([segment, segment.length]);
    }
  }
  return out;
}

function limits(encoding: Encoding): [single: number, part: number] {
  if (encoding === 'GSM-7') return [GSM7_SINGLE, GSM7_PART];
  if (encoding === 'UCS-2') return [UCS2_SINGLE, UCS2_PART];
  return [BINARY_SINGLE, BINARY_PART];
}

/** Splits a text into the parts that would go on the air, never cutting an escape sequence or a grapheme. */
export function splitMessage(text: string, messageType: MessageType = 'text'): string[] {
  const encoding = encodingFor(text, messageType);
  if (encoding === 'binary') {
    const hex = text.replace(/\s+/g, '');
    const parts: string[] = [];
    const total = hex.length / 2;
    if (total <= BINARY_SINGLE) return [hex];
    for (let i = 0; i < hex.length; i += BINARY_PART * 2) parts.push(hex.slice(i, i + BINARY_PART * 2));
    return parts;
  }
  const pieces = units(text, encoding);
  const [single, part] = limits(encoding);
  let total = 0;
  for (const [, cost] of pieces) total += cost;
  if (total <= single) return [text];
  const parts: string[] = [];
  let current = '';
  let used = 0;
  for (const [piece, cost] of pieces) {
    if (used + cost > part && used > 0) {
      parts.push(current);
      current = '';
      used = 0;
    }
    current += piece;
    used += cost;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/** Encoding and segment count; the fast path avoids building parts when nothing can be cut mid-piece. */
export function segmentMessage(text: string, messageType: MessageType = 'text'): Segmentation {
  const encoding = encodingFor(text, messageType);
  const characters = countCodePoints(text);
  if (encoding === 'binary') {
    const octets = text.replace(/\s+/g, '').length / 2;
    return { encoding, units: octets, characters, segments: octets <= BINARY_SINGLE ? 1 : Math.ceil(octets / BINARY_PART) };
  }
  const [single, part] = limits(encoding);
  if (encoding === 'GSM-7') {
    const septets = gsm7Septets(text);
    if (septets <= single) return { encoding, units: septets, characters, segments: 1 };
    // Only extension characters can straddle a part boundary; without them plain division is exact.
    const segments = septets === text.length ? Math.ceil(septets / part) : splitMessage(text, messageType).length;
    return { encoding, units: septets, characters, segments };
  }
  const codeUnits = text.length;
  if (codeUnits <= single) return { encoding, units: codeUnits, characters, segments: 1 };
  // Graphemes decide where parts may be cut, so count by splitting.
  return { encoding, units: codeUnits, characters, segments: splitMessage(text, messageType).length };
}

function countCodePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

/** Hex payload check for `message_type: binary`. */
export function isHexPayload(text: string): boolean {
  const hex = text.replace(/\s+/g, '');
  return hex.length > 0 && hex.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(hex);
}
