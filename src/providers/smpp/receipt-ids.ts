import type { ReceiptIdFormat } from './settings.js';

/**
 * The id a receipt names, written as submit_sm_resp wrote it, so it matches the stored one. SMPP
 * 3.4 says they are the same; some SMSCs answer submits in hex and write receipts in decimal (or
 * the other way round), which SMPP_RECEIPT_IDS says. Hex ids are kept in lower case both ways.
 */
export function responseId(id: string, format: ReceiptIdFormat): string {
  if (format === 'hex_to_decimal' && /^\d+$/.test(id)) return BigInt(id).toString(16);
  if (format === 'decimal_to_hex' && /^[0-9a-f]+$/i.test(id)) return BigInt(`0x${id}`).toString(10);
  return format === 'hex_to_decimal' ? id.toLowerCase() : id;
}

/** A submit_sm_resp id as stored: as sent, except hex ids lower-cased when receipts convert them. */
export function storedId(id: string, format: ReceiptIdFormat): string {
  return format === 'hex_to_decimal' ? id.toLowerCase() : id;
}
