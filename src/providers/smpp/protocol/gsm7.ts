/**
 * GSM 03.38 default alphabet, one septet per octet ("unpacked"), which is what SMPP carries
 * for data_coding 0 unless an SMSC asks for packing. Extension characters go as ESC + code.
 */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const ESCAPE = 0x1b;
const EXTENSION: Record<number, string> = { 0x0a: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2f: '\\', 0x3c: '[', 0x3d: '~', 0x3e: ']', 0x40: '|', 0x65: '€' };

const TO_SEPTET = new Map<string, number[]>();
for (let i = 0; i < BASIC.length; i++) if (i !== ESCAPE) TO_SEPTET.set(BASIC[i], [i]);
for (const [code, ch] of Object.entries(EXTENSION)) TO_SEPTET.set(ch, [ESCAPE, Number(code)]);

/** Thrown for a character outside GSM 03.38: the caller chose the wrong data_coding. */
export class NotGsm7Error extends Error {
  override readonly name = 'NotGsm7Error';
}

export function encodeGsm7(text: string): Buffer {
  const out: number[] = [];
  for (const ch of text) {
    const septets = TO_SEPTET.get(ch);
    if (!septets) throw new NotGsm7Error(`character U+${ch.codePointAt(0)!.toString(16).padStart(4, '0')} is not in GSM 03.38`);
    out.push(...septets);
  }
  return Buffer.from(out);
}

/** Unknown codes (an 8th bit set, an ESC before a code with no extension) decode as a space, as handsets show them. */
export function decodeGsm7(octets: Buffer): string {
  let text = '';
  for (let i = 0; i < octets.length; i++) {
    const code = octets[i] & 0x7f;
    if (code === ESCAPE && i + 1 < octets.length) {
      text += EXTENSION[octets[++i] & 0x7f] ?? ' ';
    } else {
      text += code === ESCAPE ? ' ' : BASIC[code];
    }
  }
  return text;
}
