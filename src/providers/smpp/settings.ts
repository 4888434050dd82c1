import { ConfigError } from '../../config.js';
import type { EnvReader } from '../definition.js';
import type { LongTextMode } from './protocol/short-message.js';

/** Transceiver: one connection both ways. Transmitter + receiver: two connections, for SMSCs that want that. */
export type BindMode = 'transceiver' | 'transmitter_receiver';

/**
 * How receipts write the SMSC's message ids compared with submit_sm_resp: the same (the standard),
 * or one side in hex and the other in decimal, as some SMSCs do.
 */
export type ReceiptIdFormat = 'same' | 'hex_to_decimal' | 'decimal_to_hex';

export interface SmppSettings {
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType: string;
  /** Sender when a message has none; TON/NPI derived from its shape. */
  sourceAddr: string | undefined;
  binds: number;
  window: number;
  tls: boolean;
  bindMode: BindMode;
  longTexts: LongTextMode;
  enquireLinkSeconds: number;
  receiptIds: ReceiptIdFormat;
  /** First wait before binding again after a lost or refused bind; doubles up to the max. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

export const SMPP_REQUIRED_VARIABLES = ['SMPP_HOST'] as const;

export function readSmppSettings(env: EnvReader): SmppSettings | undefined {
  const host = env.str('SMPP_HOST');
  if (host === undefined) return undefined;
  const systemId = env.str('SMPP_SYSTEM_ID') ?? '';
  const password = env.str('SMPP_PASSWORD') ?? '';
  if (systemId.length > 15) throw new ConfigError('SMPP_SYSTEM_ID', 'is at most 15 characters in SMPP 3.4');
  if (password.length > 8) throw new ConfigError('SMPP_PASSWORD', 'is at most 8 characters in SMPP 3.4');
  const reconnectBaseMs = int(env, 'SMPP_RECONNECT_BASE_MS', 1000, 10, 600_000);
  return {
    host,
    port: int(env, 'SMPP_PORT', 2775, 1, 65535),
    systemId,
    password,
    systemType: env.str('SMPP_SYSTEM_TYPE') ?? '',
    sourceAddr: env.str('SMPP_SOURCE_ADDR'),
    binds: int(env, 'SMPP_BINDS', 1, 1, 64),
    window: int(env, 'SMPP_WINDOW', 10, 1, 1000),
    tls: bool(env, 'SMPP_TLS', false),
    bindMode: oneOf(env, 'SMPP_BIND_MODE', ['transceiver', 'transmitter_receiver'], 'transceiver'),
    longTexts: oneOf(env, 'SMPP_LONG_TEXT', ['udh', 'sar', 'payload'], 'udh'),
    enquireLinkSeconds: int(env, 'SMPP_ENQUIRE_LINK_SECONDS', 30, 1, 3600),
    receiptIds: oneOf(env, 'SMPP_RECEIPT_IDS', ['same', 'hex_to_decimal', 'decimal_to_hex'], 'same'),
    reconnectBaseMs,
    reconnectMaxMs: Math.max(reconnectBaseMs, int(env, 'SMPP_RECONNECT_MAX_MS', 60_000, 10, 3_600_000)),
  };
}

function int(env: EnvReader, name: string, fallback: number, min: number, max: number): number {
  const raw = env.str(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${raw}"`);
  return value;
}

function bool(env: EnvReader, name: string, fallback: boolean): boolean {
  const raw = env.str(name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: EnvReader, name: string, values: readonly T[], fallback: T): T {
  const raw = env.str(name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (!(values as readonly string[]).includes(raw)) throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${raw}"`);
  return raw as T;
}
