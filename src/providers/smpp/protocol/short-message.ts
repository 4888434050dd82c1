import { splitMessage, type Encoding, type MessageType } from '../../../domain/encoding.js';
import { decodeGsm7, encodeGsm7 } from './gsm7.js';

/** esm_class bits (SMPP 3.4, 5.2.12). */
export const ESM_CLASS = {
  /** Message type bits 2-5: 0x04 is an SMSC delivery receipt. */
  TYPE_MASK: 0x3c,
  DELIVERY_RECEIPT: 0x04,
  /** GSM feature bit 6: the short_message starts with a user data header. */
  UDH_INDICATOR: 0x40,
} as const;

/** data_coding values the gateway sends. */
export const DATA_CODING = { GSM7: 0x00, BINARY: 0x04, UCS2: 0x08, GSM7_FLASH: 0x10, UCS2_FLASH: 0x18 } as const;

/** How an SMSC wants a long text: UDH in each part (the default), sar_* TLVs, or all of it in message_payload. */
export type LongTextMode = 'udh' | 'sar' | 'payload';

/** The text-carrying fields of one submit_sm. */
export interface SubmitBody {
  data_coding: number;
  esm_class: number;
  short_message: Buffer;
  message_payload?: Buffer;
  sar_msg_ref_num?: number;
  sar_total_segments?: number;
  sar_segment_seqnum?: number;
}

export function dataCodingFor(encoding: Encoding, messageType: MessageType): number {
  if (encoding === 'binary') return DATA_CODING.BINARY;
  const flash = messageType === 'flash';
  if (encoding === 'UCS-2') return flash ? DATA_CODING.UCS2_FLASH : DATA_CODING.UCS2;
  return flash ? DATA_CODING.GSM7_FLASH : DATA_CODING.GSM7;
}

function octetsOf(text: string, encoding: Encoding): Buffer {
  if (encoding === 'binary') return Buffer.from(text.replace(/\s+/g, ''), 'hex');
  if (encoding === 'UCS-2') return Buffer.from(text, 'utf16le').swap16();
  return encodeGsm7(text);
}

/**
 * The submit_sm bodies for one message: one, or one per part of a long text, cut where our
 * segment count cuts (never inside an escape sequence or a surrogate pair), each part carrying
 * the 8-bit-reference concatenation header (or sar_* TLVs) with `reference`.
 */
export function submitBodies(text: string, encoding: Encoding, messageType: MessageType, reference: number, mode: LongTextMode): SubmitBody[] {
  const dataCoding = dataCodingFor(encoding, messageType);
  if (mode === 'payload') {
    return [{ data_coding: dataCoding, esm_class: 0, short_message: Buffer.alloc(0), message_payload: octetsOf(text, encoding) }];
  }
  const parts = splitMessage(text, encoding === 'binary' ? 'binary' : encoding === 'UCS-2' ? 'unicode' : 'text');
  if (parts.length === 1) return [{ data_coding: dataCoding, esm_class: 0, short_message: octetsOf(parts[0], encoding) }];
  const ref = reference & 0xff;
  return parts.map((part, i) => {
    const octets = octetsOf(part, encoding);
    if (mode === 'sar') {
      return { data_coding: dataCoding, esm_class: 0, short_message: octets, sar_msg_ref_num: reference & 0xffff, sar_total_segments: parts.length, sar_segment_seqnum: i + 1 };
    }
    const udh = Buffer.from([0x05, 0x00, 0x03, ref, parts.length, i + 1]);
    return { data_coding: dataCoding, esm_class: ESM_CLASS.UDH_INDICATOR, short_message: Buffer.concat([udh, octets]) };
  });
}

/** Where one part sits in a concatenated message, from its UDH or its sar_* TLVs. */
export interface Concatenation {
  reference: number;
  total: number;
  sequence: number;
}

/** The user data of a received short message: octets without the UDH, and the concatenation info if any. */
export interface UserData {
  octets: Buffer;
  concatenation: Concatenation | undefined;
}

export function splitUserData(esmClass: number, shortMessage: Buffer, sar: { ref?: number; total?: number; seq?: number }): UserData {
  let octets = shortMessage;
  let concatenation: Concatenation | undefined;
  if (esmClass & ESM_CLASS.UDH_INDICATOR && shortMessage.length > 0) {
    const udhLength = shortMessage[0];
    const udh = shortMessage.subarray(1, 1 + udhLength);
    octets = shortMessage.subarray(1 + udhLength);
    for (let i = 0; i + 1 < udh.length; i += 2 + udh[i + 1]) {
      const [id, length] = [udh[i], udh[i + 1]];
      // 0x00: 8-bit reference; 0x08: 16-bit reference.
      if (id === 0x00 && length === 3) concatenation = { reference: udh[i + 2], total: udh[i + 3], sequence: udh[i + 4] };
      if (id === 0x08 && length === 4) concatenation = { reference: udh.readUInt16BE(i + 2), total: udh[i + 4], sequence: udh[i + 5] };
    }
  }
  if (!concatenation && sar.ref !== undefined && sar.total !== undefined && sar.seq !== undefined) {
    concatenation = { reference: sar.ref, total: sar.total, sequence: sar.seq };
  }
  if (concatenation && (concatenation.total < 1 || concatenation.sequence < 1 || concatenation.sequence > concatenation.total)) concatenation = undefined;
  return { octets, concatenation };
}

/** What data_coding says about a received message's alphabet and class. */
export interface Alphabet {
  kind: 'gsm7' | 'ascii' | 'latin1' | 'ucs2' | 'binary';
  /** Message class 0: shown at once, not stored. */
  flash: boolean;
}

export function alphabetOf(dataCoding: number): Alphabet {
  // 0x10-0x1F: general data coding with a message class; 0xF0-0xFF: data coding / message class.
  if ((dataCoding & 0xe0) === 0x00 && dataCoding & 0x10) {
    const alphabet = (dataCoding >> 2) & 0x03;
    return { kind: alphabet === 2 ? 'ucs2' : alphabet === 1 ? 'binary' : 'gsm7', flash: (dataCoding & 0x03) === 0 };
  }
  if ((dataCoding & 0xf0) === 0xf0) return { kind: dataCoding & 0x04 ? 'binary' : 'gsm7', flash: (dataCoding & 0x03) === 0 };
  switch (dataCoding) {
    case 0x00: return { kind: 'gsm7', flash: false };
    case 0x01: return { kind: 'ascii', flash: false };
    case 0x03: return { kind: 'latin1', flash: false };
    case 0x08: return { kind: 'ucs2', flash: false };
    default: return { kind: 'binary', flash: false };
  }
}

/** Text for the text alphabets, hex for binary (as `message_type: binary` takes it). */
export function decodeUserData(octets: Buffer, alphabet: Alphabet): string {
  switch (alphabet.kind) {
    case 'gsm7': return decodeGsm7(octets);
    case 'ascii': return octets.toString('ascii');
    case 'latin1': return octets.toString('latin1');
    case 'ucs2': return Buffer.from(octets.subarray(0, octets.length - (octets.length % 2))).swap16().toString('utf16le');
    case 'binary': return octets.toString('hex');
  }
}
