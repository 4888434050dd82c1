import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** A key's public name: stored beside every value it sealed, so rotation knows what to re-encrypt. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export interface KeyRing {
  /** Seals new values. */
  current: Buffer;
  /** Still opens what older keys sealed, until rotation has re-encrypted it. */
  previous: Buffer[];
}

const PREFIX = 'e1.';
const IV_BYTES = 12;
const IVS_PER_DRAW = 512;
const RELOAD_INTERVAL_MS = 5_000;

/**
 * AES-256-GCM for what the gateway stores of its users' traffic (message texts, metadata, the
 * simulator's outbox, inbound texts): `e1.<key id>.<iv>.<tag>.<ciphertext>`, base64url. A wrong
 * key or a changed byte fails to open. Values from before encryption (no prefix) open as they are.
 */
export class FieldCipher {
  private byId = new Map<string, Buffer>();
  private currentId = '';
  private reloadedAt = 0;
  // Random IVs drawn many at a time: one randomBytes call per seal was a tenth of a 1,000-recipient batch's time.
  private ivs = Buffer.alloc(0);
  private ivOffset = 0;

  /** `reload`: a newer ring (the key file after a rotation), asked for when a value names a key this one lacks. */
  constructor(ring: KeyRing, private readonly reload?: () => KeyRing | undefined) {
    this.use(ring);
  }

  use(ring: KeyRing): void {
    this.byId = new Map([...ring.previous, ring.current].map((k) => [keyId(k), k]));
    this.currentId = keyId(ring.current);
  }

  get currentKeyId(): string {
    return this.currentId;
  }

  seal(plaintext: string): string {
    this.followRotation();
    const key = this.byId.get(this.currentId)!;
    const iv = this.nextIv();
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${PREFIX}${this.currentId}.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${data.toString('base64url')}`;
  }

  sealOrNull(plaintext: string | null): string | null {
    return plaintext === null ? null : this.seal(plaintext);
  }

  open(stored: string): string {
    if (stored.startsWith('v1.')) return this.openLegacySealed(stored);
    if (!stored.startsWith(PREFIX)) return stored;
    const [, id, iv, tag, data] = stored.split('.');
    let key = this.byId.get(id);
    if (key === undefined && this.reload) {
      const ring = this.reload();
      if (ring) this.use(ring);
      key = this.byId.get(id);
    }
    if (key === undefined) throw new Error(`no key ${id} to open a stored value: is MESSAGE_ENCRYPTION_KEY or KEYS_FILE the one it was written with?`);
    return decrypt(key, iv, tag, data);
  }

  openOrNull(stored: string | null): string | null {
    return stored === null ? null : this.open(stored);
  }

  /** Whether a stored value is sealed under the current key (rotation skips those). */
  isCurrent(stored: string): boolean {
    return stored.startsWith(`${PREFIX}${this.currentId}.`);
  }

  private nextIv(): Buffer {
    if (this.ivOffset >= this.ivs.length) {
      this.ivs = randomBytes(IV_BYTES * IVS_PER_DRAW);
      this.ivOffset = 0;
    }
    const iv = this.ivs.subarray(this.ivOffset, this.ivOffset + IV_BYTES);
    this.ivOffset += IV_BYTES;
    return iv;
  }

  /** A rotation makes another key current: every process sealing with this ring switches within seconds. */
  private followRotation(): void {
    if (!this.reload) return;
    const now = Date.now();
    if (now - this.reloadedAt < RELOAD_INTERVAL_MS) return;
    this.reloadedAt = now;
    const ring = this.reload();
    if (ring) this.use(ring);
  }

  /** OTP texts sealed before key ids existed (`v1.<iv>.<tag>.<data>`), under the then message key. */
  private openLegacySealed(stored: string): string {
    const [, iv, tag, data] = stored.split('.');
    for (const key of this.byId.values()) {
      try {
        return decrypt(key, iv, tag, data);
      } catch {
        // another key, try the next
      }
    }
    throw new Error('no key opens this sealed value');
  }
}

function decrypt(key: Buffer, iv: string, tag: string, data: string): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
}
