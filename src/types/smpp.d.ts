/**
 * The part of the `smpp` package (0.5, untyped JavaScript) the gateway uses. Only
 * `src/providers/smpp/protocol/session.ts` imports it; everything else goes through that adapter.
 */
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer, Socket } from 'node:net';

  /** A decoded PDU: its header fields plus each mandatory parameter and known TLV by name. */
  export interface RawPdu {
    command: string;
    command_id: number;
    command_status: number;
    sequence_number: number;
    isResponse(): boolean;
    response(fields?: Record<string, unknown>): RawPdu;
    [field: string]: unknown;
  }

  export class PDU implements RawPdu {
    constructor(command: string, fields?: Record<string, unknown>);
    command: string;
    command_id: number;
    command_status: number;
    sequence_number: number;
    isResponse(): boolean;
    response(fields?: Record<string, unknown>): RawPdu;
    toBuffer(): Buffer;
    [field: string]: unknown;
  }

  export class Session extends EventEmitter {
    socket: Socket;
    send(pdu: RawPdu, onResponse?: (response: RawPdu) => void, onSent?: (pdu: RawPdu) => void): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    pause(): void;
    resume(): void;
  }

  export interface Server extends NetServer {
    sessions: Session[];
  }

  export interface ParamDefinition {
    type: unknown;
    filter?: unknown;
    default?: unknown;
  }

  export const commands: Record<string, { id: number; params?: Record<string, ParamDefinition> }>;
  export const tlvs: Record<string, { id: number; filter?: unknown }>;

  export function connect(options: { host: string; port: number; tls?: boolean; rejectUnauthorized?: boolean; servername?: string }): Session;
  export function createServer(options: Record<string, unknown>, onSession: (session: Session) => void): Server;
}
