import type { Caller } from '../domain/api-keys.js';
import type { MessageType } from '../domain/encoding.js';
import { addressText, type SmppAddress } from '../providers/smpp/protocol/address.js';
import type { IncomingPdu } from '../providers/smpp/protocol/session.js';
import { alphabetOf, decodeUserData, splitUserData, type Concatenation } from '../providers/smpp/protocol/short-message.js';

/** What a submit_sm, data_sm or one destination of a submit_multi asks for, decoded. */
export interface Submission {
  source: SmppAddress;
  destination: SmppAddress;
  /** registered_delivery bits 0-1: 0 none, 1 every final outcome, 2 failures only. */
  registeredDelivery: number;
  /** User data octets without the UDH; joined with the other parts' before decoding. */
  octets: Buffer;
  dataCoding: number;
  concatenation: Concatenation | undefined;
  scheduleAt: string | undefined;
  expireAt: string | undefined;
}

/** The submit's source and text fields; a submit_multi has one destination per entry of dest_address. */
export function readSubmission(pdu: IncomingPdu, destination: SmppAddress): Submission {
  const esmClass = pdu.int('esm_class');
  const payload = pdu.bytes('message_payload');
  const shortMessage = pdu.bytes('short_message') ?? Buffer.alloc(0);
  const { octets, concatenation } = splitUserData(esmClass, payload && payload.length > 0 ? payload : shortMessage, {
    ref: pdu.optionalInt('sar_msg_ref_num'), total: pdu.optionalInt('sar_total_segments'), seq: pdu.optionalInt('sar_segment_seqnum'),
  });
  return {
    source: { ton: pdu.int('source_addr_ton'), npi: pdu.int('source_addr_npi'), addr: pdu.text('source_addr') },
    destination,
    registeredDelivery: pdu.int('registered_delivery') & 0x03,
    octets,
    dataCoding: pdu.int('data_coding'),
    concatenation,
    scheduleAt: futureTime(pdu.raw.schedule_delivery_time),
    expireAt: futureTime(pdu.raw.validity_period),
  };
}

export function destinationOf(pdu: IncomingPdu): SmppAddress {
  return { ton: pdu.int('dest_addr_ton'), npi: pdu.int('dest_addr_npi'), addr: pdu.text('destination_addr') };
}

/** The send request a whole (reassembled) submission makes. */
export function sendRequestFor(submission: Submission, octets: Buffer) {
  const alphabet = alphabetOf(submission.dataCoding);
  const messageType: MessageType = alphabet.kind === 'binary' ? 'binary' : alphabet.flash ? 'flash' : 'text';
  const from = addressText(submission.source.ton, submission.source.addr);
  return {
    to: [{ number: recipientNumber(submission.destination) }],
    message: decodeUserData(octets, alphabet),
    // GSM or UCS-2 as the ESME chose: `text` lets the gateway pick the cheaper one the text allows.
    message_type: messageType,
    ...(from !== '' ? { from_number: from } : {}),
    ...(submission.scheduleAt ? { schedule_at: submission.scheduleAt } : {}),
    ...(submission.expireAt ? { expire_at: submission.expireAt } : {}),
  };
}

/**
 * TON 1: international digits. TON 2 (national): as written, for DEFAULT_COUNTRY. Unknown TON:
 * `00` + digits or plain digits are taken as international, which is what ESMEs that send TON 0
 * almost always mean.
 */
function recipientNumber(destination: SmppAddress): string {
  const addr = destination.addr.trim();
  if (destination.ton === 2) return addr;
  if (destination.ton === 0 && /^00\d+$/.test(addr)) return `+${addr.slice(2)}`;
  if ((destination.ton === 0 || destination.ton === 1) && /^\d+$/.test(addr)) return `+${addr}`;
  return addressText(destination.ton, addr);
}

/** The package decodes SMPP times into Dates (relative ones from now); only future ones mean anything to us. */
function futureTime(value: unknown): string | undefined {
  return value instanceof Date && !Number.isNaN(value.getTime()) && value.getTime() > Date.now() ? value.toISOString() : undefined;
}

export function callerFor(scopes: Caller['scopes']): Caller {
  // SMPP accounts are not API keys: their messages belong to no key (visible to admin keys and the operator).
  return { keyId: null, scopes };
}
