import { describe, expect, it } from 'vitest';
import { destinationAddress, sourceAddress, addressText } from '../../../src/providers/smpp/protocol/address.js';
import { decodeGsm7, encodeGsm7, NotGsm7Error } from '../../../src/providers/smpp/protocol/gsm7.js';
import { Reassembler } from '../../../src/providers/smpp/protocol/reassembly.js';
import { formatReceipt, parseReceipt, statusOfState } from '../../../src/providers/smpp/protocol/receipt.js';
import { alphabetOf, decodeUserData, splitUserData, submitBodies } from '../../../src/providers/smpp/protocol/short-message.js';
import { responseId } from '../../../src/providers/smpp/receipt-ids.js';
import { refusalOutcome } from '../../../src/providers/smpp/submit-outcome.js';

describe('GSM 03.38 coding', () => {
  it('round-trips every character of the default alphabet and its extension table', () => {
    const all = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà' + '\f^{}\\[~]|€';
    expect(decodeGsm7(encodeGsm7(all))).toBe(all);
    expect([...encodeGsm7('@€')]).toEqual([0x00, 0x1b, 0x65]);
  });

  it('refuses a character outside the alphabet rather than sending something else', () => {
    expect(() => encodeGsm7('ç')).toThrow(NotGsm7Error);
  });
});

describe('submit bodies', () => {
  it('a long GSM text becomes parts with the 8-bit concatenation UDH that join back to the text', () => {
    const text = 'a€'.repeat(120);
    const parts = submitBodies(text, 'GSM-7', 'text', 0x1234, 'udh');
    expect(parts.length).toBeGreaterThan(1);
    const joined = parts.map((p, i) => {
      expect(p.esm_class).toBe(0x40);
      expect([...p.short_message.subarray(0, 6)]).toEqual([5, 0, 3, 0x34, parts.length, i + 1]);
      // An escape sequence is never cut between two parts.
      expect(p.short_message.at(-1)).not.toBe(0x1b);
      return decodeGsm7(p.short_message.subarray(6));
    }).join('');
    expect(joined).toBe(text);
  });

  it('sar mode puts the reference in TLVs and payload mode sends one PDU', () => {
    const text = 'é'.repeat(200);
    const sar = submitBodies(text, 'GSM-7', 'text', 0x1234, 'sar');
    expect(sar.map((p) => [p.sar_msg_ref_num, p.sar_total_segments, p.sar_segment_seqnum])).toEqual([[0x1234, 2, 1], [0x1234, 2, 2]]);
    const payload = submitBodies(text, 'GSM-7', 'text', 1, 'payload');
    expect(payload).toHaveLength(1);
    expect(payload[0].message_payload).toHaveLength(200);
  });

  it('UCS-2 is UTF-16BE (emoji as surrogate pairs), flash is class 0, binary is data_coding 4', () => {
    const [ucs2] = submitBodies('Привет 👋', 'UCS-2', 'text', 1, 'udh');
    expect(ucs2.data_coding).toBe(8);
    expect(decodeUserData(ucs2.short_message, alphabetOf(8))).toBe('Привет 👋');
    expect(submitBodies('hi', 'GSM-7', 'flash', 1, 'udh')[0].data_coding).toBe(0x10);
    expect(submitBodies('Ж', 'UCS-2', 'flash', 1, 'udh')[0].data_coding).toBe(0x18);
    const [binary] = submitBodies('0A0B0C', 'binary', 'binary', 1, 'udh');
    expect([binary.data_coding, binary.short_message.toString('hex')]).toEqual([4, '0a0b0c']);
  });
});

describe('received user data', () => {
  it('reads 8- and 16-bit reference UDHs and sar_* TLVs', () => {
    expect(splitUserData(0x40, Buffer.from([5, 0, 3, 9, 2, 1, 0x41]), {})).toEqual({ octets: Buffer.from([0x41]), concatenation: { reference: 9, total: 2, sequence: 1 } });
    expect(splitUserData(0x40, Buffer.from([6, 8, 4, 1, 2, 3, 2, 0x42]), {}).concatenation).toEqual({ reference: 0x0102, total: 3, sequence: 2 });
    expect(splitUserData(0, Buffer.from('x'), { ref: 7, total: 2, seq: 2 }).concatenation).toEqual({ reference: 7, total: 2, sequence: 2 });
    expect(splitUserData(0, Buffer.from('x'), { ref: 7, total: 2, seq: 3 }).concatenation).toBeUndefined();
  });

  it('knows the alphabets and message class of data_coding', () => {
    expect(alphabetOf(0)).toEqual({ kind: 'gsm7', flash: false });
    expect(alphabetOf(0x18)).toEqual({ kind: 'ucs2', flash: true });
    expect(alphabetOf(0xf4)).toEqual({ kind: 'binary', flash: true });
    expect(alphabetOf(3)).toEqual({ kind: 'latin1', flash: false });
    expect(decodeUserData(Buffer.from([0xe9]), alphabetOf(3))).toBe('é');
  });

  it('joins parts in order whatever order they came in, and drops a message whose parts do not all come', () => {
    const expired: string[] = [];
    const parts = new Reassembler<string>(1000, 10, (key) => expired.push(key));
    expect(parts.add('a', { reference: 1, total: 2, sequence: 2 }, Buffer.from('world'), 'p2', 0)).toBeUndefined();
    expect(parts.add('a', { reference: 1, total: 2, sequence: 1 }, Buffer.from('hello '), 'p1', 10)).toEqual({ octets: Buffer.from('hello world'), parts: ['p1', 'p2'] });
    parts.add('b', { reference: 1, total: 2, sequence: 1 }, Buffer.from('x'), 'q1', 20);
    parts.add('c', { reference: 1, total: 2, sequence: 1 }, Buffer.from('y'), 'r1', 2000);
    expect(expired).toEqual(['b|1|2']);
    expect(parts.pending).toBe(1);
  });

  it('holds at most its byte limit of parts, dropping the oldest unfinished messages first, never the one still arriving', () => {
    const expired: string[] = [];
    const parts = new Reassembler<string>(60_000, 10_000, (key) => expired.push(key), 1000);
    const part = Buffer.alloc(140, 0x41);
    // Far fewer messages than the count limit, each missing its last part: 7 parts fit in 1,000 bytes.
    for (let m = 0; m < 5; m++) {
      for (let p = 1; p <= 3; p++) parts.add(`esme${m}`, { reference: m, total: 4, sequence: p }, part, `m${m}p${p}`, 0);
    }
    expect(parts.pendingBytes).toBeLessThanOrEqual(1000);
    expect(expired).toEqual(['esme0|0|4', 'esme1|1|4', 'esme2|2|4']);
    expect(parts.pending).toBe(2);
    // A repeated part replaces its copy and counts once; a completed message leaves nothing behind.
    parts.add('esme4', { reference: 4, total: 4, sequence: 3 }, part, 'again', 0);
    expect(parts.pendingBytes).toBe(6 * 140);
    expect(parts.add('esme4', { reference: 4, total: 4, sequence: 4 }, Buffer.from('end'), 'last', 0)?.parts).toEqual(['m4p1', 'm4p2', 'again', 'last']);
    expect(parts.pendingBytes).toBe(3 * 140);
    // One message larger than the limit on its own goes too, once it is.
    const dropped: string[] = [];
    const big = new Reassembler<string>(60_000, 10, (key, received) => dropped.push(`${key}: ${received.join(',')}`), 300);
    big.add('x', { reference: 1, total: 3, sequence: 1 }, part, 'a', 0);
    big.add('x', { reference: 1, total: 3, sequence: 2 }, part, 'b', 0);
    expect(big.pendingBytes).toBe(280);
    expect(big.add('x', { reference: 1, total: 3, sequence: 3 }, Buffer.alloc(0), 'c', 0)?.parts).toEqual(['a', 'b', 'c']);
    for (const [sequence, extra] of [[1, 'd'], [2, 'e'], [3, 'f']] as const) big.add('y', { reference: 1, total: 4, sequence }, part, extra, 0);
    expect(dropped).toEqual(['y|1|4: d,e,f']);
    expect(big.pendingBytes).toBe(0);
    // Parts are held as copies of their own, not as slices of the PDU's buffer.
    const pdu = Buffer.alloc(1000, 0x42);
    big.add('z', { reference: 1, total: 2, sequence: 1 }, pdu.subarray(10, 20), 'g', 0);
    pdu.fill(0x43);
    expect(big.add('z', { reference: 1, total: 2, sequence: 2 }, Buffer.from('!'), 'h', 0)?.octets.toString()).toBe('BBBBBBBBBB!');
  });
});

describe('receipts', () => {
  it('reads the standard text, TLVs first, and maps the states', () => {
    const text = 'id:0123456789 sub:001 dlvrd:001 submit date:2611260400 done date:2611260401 stat:DELIVRD err:000 text:Hello world';
    expect(parseReceipt(text, {})).toEqual({ messageId: '0123456789', state: 2, error: undefined, doneAt: Date.UTC(2026, 10, 26, 4, 1) });
    expect(parseReceipt('id:1 stat:UNDELIV err:034', {})).toMatchObject({ messageId: '1', state: 5, error: '034' });
    expect(parseReceipt('', { receiptedMessageId: 'abc', messageState: 3 })).toMatchObject({ messageId: 'abc', state: 3 });
    expect(parseReceipt('no receipt here', {})).toBeUndefined();
    expect(statusOfState(2)).toEqual({ status: 'delivered' });
    expect(statusOfState(5)).toEqual({ status: 'undelivered', errorCode: 'UNDELIVERABLE' });
    expect(statusOfState(1)).toBeUndefined();
  });

  it('writes the standard text that it reads back', () => {
    const text = formatReceipt({ messageId: 'msg_1', submitted: 1, delivered: 1, submitDate: Date.UTC(2026, 0, 2, 3, 4), doneDate: Date.UTC(2026, 0, 2, 3, 5), state: 2, error: '0', text: 'a'.repeat(30) });
    expect(text).toBe(`id:msg_1 sub:001 dlvrd:001 submit date:2601020304 done date:2601020305 stat:DELIVRD err:000 text:${'a'.repeat(20)}`);
    expect(parseReceipt(text, {})).toMatchObject({ messageId: 'msg_1', state: 2 });
  });

  it('converts receipt ids between hex and decimal when the SMSC mixes them', () => {
    expect(responseId('255', 'hex_to_decimal')).toBe('ff');
    expect(responseId('FF', 'decimal_to_hex')).toBe('255');
    expect(responseId('18446744073709551615', 'hex_to_decimal')).toBe('ffffffffffffffff');
    expect(responseId('AbC', 'same')).toBe('AbC');
  });
});

describe('addresses and outcomes', () => {
  it('derives TON/NPI from the sender and sends destinations as 1/1 without +', () => {
    expect(sourceAddress('+15550001111')).toEqual({ ton: 1, npi: 1, addr: '15550001111' });
    expect(sourceAddress('ACME Ltd')).toEqual({ ton: 5, npi: 0, addr: 'ACME Ltd' });
    expect(sourceAddress('12345')).toEqual({ ton: 3, npi: 0, addr: '12345' });
    expect(sourceAddress(undefined)).toEqual({ ton: 0, npi: 0, addr: '' });
    expect(destinationAddress('+447700900123')).toEqual({ ton: 1, npi: 1, addr: '447700900123' });
    expect(addressText(1, '447700900123')).toBe('+447700900123');
    expect(addressText(5, 'ACME')).toBe('ACME');
  });

  it('maps submit_sm_resp statuses: throttling retried, bad numbers rejected', () => {
    expect(refusalOutcome(0x58)).toMatchObject({ kind: 'retry', code: 'PROVIDER_THROTTLED', providerErrorCode: 'ESME_RTHROTTLED (0x58)' });
    expect(refusalOutcome(0x14)).toMatchObject({ kind: 'retry', code: 'PROVIDER_THROTTLED' });
    expect(refusalOutcome(0x0b)).toMatchObject({ kind: 'rejected', code: 'INVALID_NUMBER' });
    expect(refusalOutcome(0x51)).toMatchObject({ kind: 'rejected', code: 'INVALID_NUMBER' });
    expect(refusalOutcome(0x08)).toMatchObject({ kind: 'retry', code: 'PROVIDER_ERROR' });
    expect(refusalOutcome(0x45)).toMatchObject({ kind: 'rejected', code: 'PROVIDER_REJECTED' });
  });
});
