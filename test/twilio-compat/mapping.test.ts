import { describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { rfc2822, sentRange } from '../../src/twilio-compat/dates.js';
import { messageIdFromSid, messageSid } from '../../src/twilio-compat/sids.js';
import { twilioErrorCode, twilioPrice, twilioStatus } from '../../src/twilio-compat/statuses.js';

describe('message SIDs', () => {
  it('are SM + 32 hex, derived from the message id and turned back into it', () => {
    for (let i = 0; i < 1000; i++) {
      const id = newId('msg', Date.now() + i * 7_919_000_000);
      const sid = messageSid(id);
      expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
      expect(messageIdFromSid(sid)).toBe(id);
    }
    expect(messageSid('msg_00000000000000000000000000')).toBe(`SM${'0'.repeat(32)}`);
  });

  it('keep the order of the ids (newest first stays newest first)', () => {
    const a = newId('msg', 1_700_000_000_000);
    const b = newId('msg', 1_700_000_000_001);
    expect(messageSid(a) < messageSid(b)).toBe(true);
  });

  it('refuse what is not an SM SID', () => {
    expect(messageIdFromSid('MM' + '0'.repeat(32))).toBeUndefined();
    expect(messageIdFromSid('SM' + '0'.repeat(31))).toBeUndefined();
    expect(messageIdFromSid('SM' + 'g'.repeat(32))).toBeUndefined();
    expect(() => messageSid('bat_01m8atjcm80m53g3j9qa90by9f')).toThrow();
  });
});

describe('dates', () => {
  it('write RFC 2822 in GMT as Twilio does', () => {
    expect(rfc2822(Date.UTC(2015, 6, 30, 20, 12, 31))).toBe('Thu, 30 Jul 2015 20:12:31 +0000');
    expect(rfc2822(Date.UTC(2024, 0, 5, 3, 4, 5))).toBe('Fri, 05 Jan 2024 03:04:05 +0000');
    expect(rfc2822(null)).toBeNull();
  });

  it('read DateSent, DateSent< and DateSent> as a day or an instant, both ends inclusive', () => {
    const day = Date.UTC(2024, 0, 5);
    expect(sentRange({ on: '2024-01-05' })).toEqual({ from: day, to: day + 86_400_000 - 1 });
    expect(sentRange({ on: '2024-01-05T13:00:00Z' })).toEqual({ from: day, to: day + 86_400_000 - 1 });
    expect(sentRange({ before: '2024-01-05' })).toEqual({ to: day + 86_400_000 - 1 });
    expect(sentRange({ before: '2024-01-05T10:00:00Z' })).toEqual({ to: day + 36_000_000 });
    expect(sentRange({ after: '2024-01-05', before: '2024-01-06' })).toEqual({ from: day, to: day + 2 * 86_400_000 - 1 });
    expect(sentRange({ after: 'yesterday' })).toEqual({ invalid: 'DateSent>' });
  });
});

describe('statuses, error codes and prices', () => {
  it('speak Twilio\'s vocabulary', () => {
    expect(['draft', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'expired', 'canceled'].map(twilioStatus))
      .toEqual(['accepted', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'failed', 'canceled']);
    expect(twilioErrorCode('delivered', null)).toBeNull();
    expect(twilioErrorCode('canceled', 'CANCELED')).toBeNull();
    expect(twilioErrorCode('expired', 'EXPIRED')).toBe(30036);
    expect(twilioErrorCode('undelivered', 'UNDELIVERABLE')).toBe(30003);
    expect(twilioErrorCode('failed', 'OPTED_OUT')).toBe(21610);
    expect(twilioErrorCode('failed', '30007')).toBe(30007);
    expect(twilioErrorCode('failed', 'OUTCOME_UNKNOWN')).toBe(30008);
    expect(twilioPrice('queued', null, 0.0079)).toBeNull();
    expect(twilioPrice('delivered', null, 0.0079)).toBe('-0.00790');
    expect(twilioPrice('delivered', 0.0065, 0.0079)).toBe('-0.00650');
  });
});
