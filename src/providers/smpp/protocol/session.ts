import smpp, { type RawPdu, type Session } from 'smpp';
import { SmppClosedError, SmppTimeoutError } from './errors.js';

// The package codes texts itself (it guesses Latin-1 or GSM for data_coding 0 and drops the UDH into an
// object). We need the octets as they are on the wire, so both directions carry raw Buffers and
// short-message.ts does the coding.
for (const definition of Object.values(smpp.commands)) {
  if (definition.params?.short_message) delete definition.params.short_message.filter;
}
delete smpp.tlvs.message_payload.filter;

/** Commands the gateway sends or answers; the package knows more. */
export type SmppCommand =
  | 'bind_transceiver' | 'bind_transmitter' | 'bind_receiver' | 'unbind' | 'enquire_link' | 'generic_nack'
  | 'submit_sm' | 'submit_multi' | 'data_sm' | 'deliver_sm';

/** A PDU as received, read through typed accessors so a malformed field is caught here, not deep in the caller. */
export class IncomingPdu {
  constructor(readonly raw: RawPdu) {}

  get command(): string {
    return this.raw.command;
  }

  get status(): number {
    return this.raw.command_status;
  }

  get sequence(): number {
    return this.raw.sequence_number;
  }

  isResponse(): boolean {
    return this.raw.isResponse();
  }

  text(field: string): string {
    const value = this.raw[field];
    return typeof value === 'string' ? value : '';
  }

  int(field: string): number {
    const value = this.raw[field];
    return typeof value === 'number' ? value : 0;
  }

  optionalInt(field: string): number | undefined {
    const value = this.raw[field];
    return typeof value === 'number' ? value : undefined;
  }

  optionalText(field: string): string | undefined {
    const value = this.raw[field];
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  }

  bytes(field: string): Buffer | undefined {
    const value = this.raw[field];
    return Buffer.isBuffer(value) ? value : undefined;
  }

  /** A list-valued parameter (submit_multi's dest_address). */
  list(field: string): Array<Record<string, unknown>> {
    const value = this.raw[field];
    return Array.isArray(value) ? value as Array<Record<string, unknown>> : [];
  }
}

export interface SessionEvents {
  /** A request from the peer (never a response): answer it with `respond`. */
  onRequest(pdu: IncomingPdu): void;
  /** The connection is gone, for whatever reason; called once. */
  onClose(reason: string): void;
}

/**
 * One SMPP connection over the `smpp` package: requests as promises with a timeout, responses
 * by sequence number, and one close notification whatever ended the connection.
 */
export class SmppSession {
  private readonly pending = new Map<number, { resolve: (pdu: IncomingPdu) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private closed = false;
  private events: SessionEvents | undefined;

  private constructor(private readonly session: Session) {
    session.on('pdu', (raw: RawPdu) => this.received(raw));
    session.on('error', (err: Error) => this.end(`connection error: ${err.message}`));
    session.on('close', () => this.end('connection closed'));
  }

  static connect(options: { host: string; port: number; tls: boolean }): Promise<SmppSession> {
    return new Promise((resolve, reject) => {
      const session = smpp.connect({ host: options.host, port: options.port, tls: options.tls, ...(options.tls ? { servername: options.host } : {}) });
      const fail = (err: Error) => {
        session.destroy();
        reject(err);
      };
      session.once('error', fail);
      session.once(options.tls ? 'secureConnect' : 'connect', () => {
        session.off('error', fail);
        resolve(new SmppSession(session));
      });
    });
  }

  /** A server-side session around a connection the package accepted. */
  static accepted(session: Session): SmppSession {
    return new SmppSession(session);
  }

  get remoteAddress(): string {
    return this.session.socket.remoteAddress ?? 'unknown';
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  listen(events: SessionEvents): void {
    this.events = events;
  }

  /**
   * Sends a request and resolves with its response, whatever its command_status. Rejects with
   * SmppTimeoutError when no response comes in time and SmppClosedError when the connection ends first.
   */
  request(command: SmppCommand, fields: Record<string, unknown>, timeoutMs: number, signal?: AbortSignal): Promise<IncomingPdu> {
    if (this.closed) return Promise.reject(new SmppClosedError('connection closed', false));
    if (signal?.aborted) return Promise.reject(new SmppTimeoutError(`${command} not sent: the caller gave up`));
    return new Promise((resolve, reject) => {
      const pdu = new smpp.PDU(command, fields);
      if (!this.session.send(pdu)) {
        reject(new SmppClosedError('connection not writable', false));
        return;
      }
      const sequence = pdu.sequence_number;
      const giveUp = (why: string) => {
        const waiting = this.pending.get(sequence);
        if (!waiting) return;
        this.pending.delete(sequence);
        clearTimeout(waiting.timer);
        reject(new SmppTimeoutError(why));
      };
      const timer = setTimeout(() => giveUp(`no ${command}_resp within ${timeoutMs} ms`), timeoutMs);
      this.pending.set(sequence, { resolve, reject, timer });
      signal?.addEventListener('abort', () => giveUp(`no ${command}_resp before the send timed out`), { once: true });
    });
  }

  /** Answers a request with its `_resp` (or generic_nack for a command the package does not know). */
  respond(request: IncomingPdu, status: number, fields: Record<string, unknown> = {}): void {
    if (this.closed) return;
    this.session.send(request.raw.response({ ...fields, command_status: status }));
  }

  /** Sends a request whose answer nobody waits for (generic_nack). */
  notify(command: SmppCommand, fields: Record<string, unknown>): void {
    if (!this.closed) this.session.send(new smpp.PDU(command, fields));
  }

  /** Closes the socket once what was written is flushed. */
  close(): void {
    this.session.close();
  }

  destroy(): void {
    this.session.destroy();
    this.end('destroyed');
  }

  private received(raw: RawPdu): void {
    const pdu = new IncomingPdu(raw);
    if (pdu.isResponse()) {
      const waiting = this.pending.get(pdu.sequence);
      if (waiting) {
        this.pending.delete(pdu.sequence);
        clearTimeout(waiting.timer);
        waiting.resolve(pdu);
      }
      return;
    }
    this.events?.onRequest(pdu);
  }

  private end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new SmppClosedError(reason, true));
    }
    this.pending.clear();
    // After a parse error the package stops reading this socket for good: drop it.
    this.session.destroy();
    this.events?.onClose(reason);
  }
}

/** Listens for ESMEs; each accepted connection is handed over as an SmppSession. */
export function listenForSessions(port: number, host: string, onSession: (session: SmppSession) => void): Promise<{ port: number; close(): Promise<void> }> {
  const server = smpp.createServer({}, (session) => onSession(SmppSession.accepted(session)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : port,
        close: () => new Promise<void>((done) => {
          for (const session of [...server.sessions]) session.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}
