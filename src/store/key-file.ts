import { createHmac, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** The server's secret keys: never in the database, whose copy alone would then reveal every pending code. */
export interface GatewayKeys {
  otpHashKey: Buffer;
  messageEncryptionKey: Buffer;
  /** Keys replaced by a rotation: kept for reading what they sealed. */
  previousMessageKeys: Buffer[];
}

interface KeyFileContent {
  otp_hash_key: string;
  message_encryption_key: string;
  previous_message_encryption_keys?: string[];
  created_at: string;
  rotated_at?: string;
}

/** Names the keys had in the `secrets` table before they moved to the key file. */
const LEGACY_NAMES = { otpHashKey: 'otp_hmac_key', messageEncryptionKey: 'sealing_key' } as const;
/** Rows that identify a key without revealing it: HMAC of a constant under the key. */
const CHECK_NAMES = { otpHashKey: 'otp_hash_key_check', messageEncryptionKey: 'message_encryption_key_check' } as const;
const CHECK_LABEL = 'sms-gateway key check v1';

export function readKeyFile(path: string): KeyFileContent | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const content = JSON.parse(text) as KeyFileContent;
  if (typeof content.otp_hash_key !== 'string' || typeof content.message_encryption_key !== 'string') {
    throw new Error(`KEYS_FILE ${path} lacks otp_hash_key or message_encryption_key`);
  }
  return content;
}

/**
 * Writes the key file once, mode 0600. Written beside and then hard-linked into place, so a
 * process starting at the same moment either finds the whole file or loses the race and reads
 * the winner's: every process sharing the file agrees on the keys.
 */
function createKeyFile(path: string, content: KeyFileContent): KeyFileContent {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, JSON.stringify(content, null, 2) + '\n', { mode: 0o600 });
  try {
    linkSync(temporary, path);
    return content;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readKeyFile(path)!;
  } finally {
    unlinkSync(temporary);
  }
}

function keyCheck(key: Buffer): string {
  return createHmac('sha256', key).update(CHECK_LABEL).digest('base64');
}

/**
 * The keys, from configuration when given, else from the key file (generated on first start).
 * An install from before the key file had its keys in the database: they move to the file and
 * leave the database. Returns warnings for the operator, e.g. when the database's OTP hashes
 * were made under another key than the one now in use.
 */
export async function loadGatewayKeys(
  db: Kysely<Database>,
  configured: { otpHashKey: Buffer | undefined; messageEncryptionKey: Buffer | undefined; previousMessageKeys?: Buffer[] },
  keysFile: string,
): Promise<{ keys: GatewayKeys; warnings: string[] }> {
  const legacy = new Map((await db.selectFrom('secrets').select(['name', 'value']).execute()).map((r) => [r.name, r.value]));
  let fromFile: KeyFileContent | undefined;
  if (!configured.otpHashKey || !configured.messageEncryptionKey) {
    fromFile = readKeyFile(keysFile) ?? createKeyFile(keysFile, {
      otp_hash_key: legacy.get(LEGACY_NAMES.otpHashKey) ?? randomBytes(32).toString('base64'),
      message_encryption_key: legacy.get(LEGACY_NAMES.messageEncryptionKey) ?? randomBytes(32).toString('base64'),
      created_at: new Date().toISOString(),
    });
  }
  const keys: GatewayKeys = {
    otpHashKey: configured.otpHashKey ?? Buffer.from(fromFile!.otp_hash_key, 'base64'),
    messageEncryptionKey: configured.messageEncryptionKey ?? Buffer.from(fromFile!.message_encryption_key, 'base64'),
    previousMessageKeys: configured.messageEncryptionKey
      ? configured.previousMessageKeys ?? []
      : (fromFile!.previous_message_encryption_keys ?? []).map((k) => Buffer.from(k, 'base64')),
  };
  await db.deleteFrom('secrets').where('name', 'in', Object.values(LEGACY_NAMES)).execute();

  const warnings: string[] = [];
  const consequences = {
    otpHashKey: 'OTP codes issued under the other key will not verify (OTP_HASH_KEY or KEYS_FILE changed)',
    messageEncryptionKey: 'queued OTP texts sealed under the other key cannot be sent (MESSAGE_ENCRYPTION_KEY or KEYS_FILE changed)',
  };
  for (const name of ['otpHashKey', 'messageEncryptionKey'] as const) {
    const check = keyCheck(keys[name]);
    const stored = legacy.get(CHECK_NAMES[name]);
    if (stored === undefined) {
      await db.insertInto('secrets').values({ name: CHECK_NAMES[name], value: check, created_at: Date.now() })
        .onConflict((oc) => oc.column('name').doNothing()).execute();
    } else if (stored !== check) {
      warnings.push(`this database was used with another ${name === 'otpHashKey' ? 'OTP hash key' : 'message encryption key'}: ${consequences[name]}`);
    }
  }
  return { keys, warnings };
}

/** The message keys as the key file has them now: what a running process reloads after a rotation. */
export function messageKeyRingFromFile(path: string): { current: Buffer; previous: Buffer[] } | undefined {
  const content = readKeyFile(path);
  if (!content) return undefined;
  return {
    current: Buffer.from(content.message_encryption_key, 'base64'),
    previous: (content.previous_message_encryption_keys ?? []).map((k) => Buffer.from(k, 'base64')),
  };
}

/**
 * Rotation: a new message key becomes current and the old one is kept for reading. The file is
 * replaced in one rename, so a process reading it sees the old or the new content, never half.
 */
export function rotateMessageKey(path: string): { previous: Buffer; current: Buffer } {
  const content = readKeyFile(path);
  if (!content) throw new Error(`KEYS_FILE ${path} does not exist: start the gateway once first`);
  const current = randomBytes(32);
  const next: KeyFileContent = {
    ...content,
    message_encryption_key: current.toString('base64'),
    previous_message_encryption_keys: [content.message_encryption_key, ...(content.previous_message_encryption_keys ?? [])],
    rotated_at: new Date().toISOString(),
  };
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
  renameSync(temporary, path);
  return { previous: Buffer.from(content.message_encryption_key, 'base64'), current };
}
