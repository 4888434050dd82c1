import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FieldCipher, keyId } from '../../src/domain/field-cipher.js';

describe('FieldCipher', () => {
  it('opens what it sealed, and nothing else', () => {
    const key = randomBytes(32);
    const cipher = new FieldCipher({ current: key, previous: [] });
    const sealed = cipher.seal('Your code is 123456');
    expect(sealed).not.toContain('123456');
    expect(sealed.startsWith(`e1.${keyId(key)}.`)).toBe(true);
    expect(cipher.open(sealed)).toBe('Your code is 123456');
    expect(() => new FieldCipher({ current: randomBytes(32), previous: [] }).open(sealed)).toThrow();
    // Flip one bit of the ciphertext itself: rewriting base64 characters can land on the value
    // they already had, or only on padding bits, and then nothing was tampered with.
    const parts = sealed.split('.');
    const data = Buffer.from(parts[4]!, 'base64url');
    data[0] = data[0]! ^ 1;
    const tampered = [...parts.slice(0, 4), data.toString('base64url')].join('.');
    expect(() => cipher.open(tampered)).toThrow();
    // Each seal has its own IV: equal texts do not look equal at rest.
    expect(cipher.seal('same')).not.toBe(cipher.seal('same'));
  });

  it('reads with previous keys and asks for a newer ring when a value names an unknown key', () => {
    const old = randomBytes(32);
    const next = randomBytes(32);
    const before = new FieldCipher({ current: old, previous: [] }).seal('old text');
    const after = new FieldCipher({ current: next, previous: [old] }).seal('new text');
    const running = new FieldCipher({ current: old, previous: [] }, () => ({ current: next, previous: [old] }));
    expect(running.open(before)).toBe('old text');
    expect(running.open(after)).toBe('new text');
    expect(running.currentKeyId).toBe(keyId(next));
  });

  it('opens OTP texts sealed in the format from before key ids', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([c.update('Your code is 654321', 'utf8'), c.final()]);
    const legacy = ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
    expect(new FieldCipher({ current: key, previous: [] }).open(legacy)).toBe('Your code is 654321');
  });
});
