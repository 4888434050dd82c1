import { backoffDelayMs } from '../../domain/backoff.js';
import { processLog } from '../../logging.js';
import type { ProviderConnections } from '../provider.js';
import { CommandStatus, statusName } from './protocol/command-status.js';
import { SmppBindError, SmppClosedError } from './protocol/errors.js';
import { SmppSession, type IncomingPdu } from './protocol/session.js';
import type { SmppSettings } from './settings.js';

type ConnectionState = ProviderConnections['connections'][number];

/** Longest wait for a bind_resp or an enquire_link_resp before the connection is taken for dead. */
const PROTOCOL_TIMEOUT_MS = 10_000;

/** The dispatcher's PROVIDER_TIMEOUT (through the signal) normally ends a wait for submit_sm_resp first. */
const SUBMIT_TIMEOUT_MS = 300_000;

export interface BindHandlers {
  /** A deliver_sm (receipt or mobile-originated message); resolves with the command_status to answer. */
  onDeliver(pdu: IncomingPdu): Promise<number>;
  /** For the log: a bind came up, or was lost or refused. */
  onStateChange(index: number, state: ConnectionState['state'], detail: string | undefined): void;
}

/**
 * One bind to the SMSC that keeps itself up: binds (one transceiver, or a transmitter and a
 * receiver), answers and sends enquire_link, and after a lost or refused bind tries again with
 * exponential backoff. At most `window` submits wait for their response at once.
 */
export class SmppBind {
  private transmitter: SmppSession | undefined;
  private receiver: SmppSession | undefined;
  private state: ConnectionState = { state: 'closed', since: Date.now(), lastError: null, nextAttemptAt: null };
  private failures = 0;
  private lost = 0;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private enquireTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];

  constructor(private readonly index: number, private readonly settings: SmppSettings, private readonly handlers: BindHandlers) {}

  get status(): ConnectionState {
    return { ...this.state };
  }

  /** Binds lost or refused since start. */
  get reconnects(): number {
    return this.lost;
  }

  get isBound(): boolean {
    return this.state.state === 'bound';
  }

  get freeSlots(): number {
    return this.isBound ? this.settings.window - this.inFlight : 0;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  /** Unbinds politely (waiting briefly for unbind_resp) and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.enquireTimer);
    const sessions = [...new Set([this.transmitter, this.receiver])].filter((s): s is SmppSession => s !== undefined && s.isOpen);
    await Promise.all(sessions.map(async (session) => {
      try {
        await session.request('unbind', {}, 2000);
      } catch {
        // Gone or silent: closing is all that is left.
      }
      session.destroy();
    }));
    this.setState('closed', null);
    for (const wake of this.slotWaiters.splice(0)) wake();
  }

  /**
   * Waits for a free window slot on this bound bind, then sends a submit_sm. Rejects with
   * SmppClosedError when the bind is not up (nothing was sent) or goes down before the answer.
   */
  async submit(fields: Record<string, unknown>, signal: AbortSignal): Promise<IncomingPdu> {
    while (this.isBound && this.inFlight >= this.settings.window) await new Promise<void>((wake) => this.slotWaiters.push(wake));
    const session = this.transmitter;
    if (!this.isBound || !session) throw new SmppClosedError('not bound', false);
    this.inFlight++;
    try {
      return await session.request('submit_sm', fields, SUBMIT_TIMEOUT_MS, signal);
    } finally {
      this.inFlight--;
      this.slotWaiters.shift()?.();
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting', this.state.lastError);
    try {
      if (this.settings.bindMode === 'transceiver') {
        const session = await this.open('bind_transceiver');
        this.transmitter = session;
        this.receiver = session;
      } else {
        this.transmitter = await this.open('bind_transmitter');
        this.receiver = await this.open('bind_receiver');
      }
    } catch (err) {
      this.dropSessions();
      this.lostBind((err as Error).message);
      return;
    }
    if (this.stopped) {
      this.dropSessions();
      return;
    }
    this.failures = 0;
    this.setState('bound', null);
    this.enquireTimer = setInterval(() => void this.enquireLink(), this.settings.enquireLinkSeconds * 1000);
  }

  private async open(command: 'bind_transceiver' | 'bind_transmitter' | 'bind_receiver'): Promise<SmppSession> {
    const { host, port, tls, systemId, password, systemType } = this.settings;
    const session = await SmppSession.connect({ host, port, tls });
    session.listen({
      onRequest: (pdu) => this.request(session, pdu),
      onClose: (reason) => {
        if (session === this.transmitter || session === this.receiver) this.connectionLost(reason);
      },
    });
    let response: IncomingPdu;
    try {
      response = await session.request(command, {
        system_id: systemId, password, system_type: systemType, interface_version: 0x34, addr_ton: 0, addr_npi: 0, address_range: '',
      }, PROTOCOL_TIMEOUT_MS);
    } catch (err) {
      session.destroy();
      throw new SmppBindError(`${command}: ${(err as Error).message}`, undefined);
    }
    if (response.status !== CommandStatus.ESME_ROK) {
      session.destroy();
      throw new SmppBindError(`${command} refused: ${statusName(response.status)}`, response.status);
    }
    return session;
  }

  /** Requests from the SMSC: receipts and MO messages, keep-alives, its own unbind. */
  private request(session: SmppSession, pdu: IncomingPdu): void {
    switch (pdu.command) {
      case 'enquire_link':
        session.respond(pdu, CommandStatus.ESME_ROK);
        return;
      case 'unbind':
        session.respond(pdu, CommandStatus.ESME_ROK);
        session.close();
        return;
      case 'deliver_sm':
        this.handlers.onDeliver(pdu).then(
          (status) => session.respond(pdu, status, { message_id: '' }),
          (err: Error) => {
            // Not stored: the SMSC is asked to deliver it again later rather than have it lost.
            processLog.warn(`smpp bind ${this.index + 1}: deliver_sm not stored, answered ESME_RX_T_APPN: ${err.message}`);
            session.respond(pdu, CommandStatus.ESME_RX_T_APPN, { message_id: '' });
          },
        );
        return;
      default:
        // Nothing else is sent to an ESME; a command we do not take gets generic_nack.
        session.notify('generic_nack', { command_status: CommandStatus.ESME_RINVCMDID, sequence_number: pdu.sequence });
    }
  }

  private async enquireLink(): Promise<void> {
    const session = this.transmitter;
    if (!session || !this.isBound) return;
    try {
      const checks = [...new Set([session, this.receiver])].filter((s): s is SmppSession => s !== undefined);
      await Promise.all(checks.map((s) => s.request('enquire_link', {}, PROTOCOL_TIMEOUT_MS)));
    } catch (err) {
      // A link that does not answer is dead even if TCP has not noticed.
      if (session === this.transmitter) this.connectionLost(`enquire_link: ${(err as Error).message}`);
    }
  }

  private connectionLost(reason: string): void {
    if (this.state.state !== 'bound') return;
    clearInterval(this.enquireTimer);
    this.dropSessions();
    this.lostBind(reason);
  }

  private lostBind(reason: string): void {
    for (const wake of this.slotWaiters.splice(0)) wake();
    // Our own unbind at stop is no lost bind.
    if (this.stopped) {
      this.setState('closed', reason);
      return;
    }
    this.lost++;
    this.failures++;
    const delay = backoffDelayMs(this.failures, this.settings.reconnectBaseMs, this.settings.reconnectMaxMs);
    this.setState('waiting', reason, Date.now() + delay);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  private dropSessions(): void {
    const sessions = [...new Set([this.transmitter, this.receiver])];
    this.transmitter = undefined;
    this.receiver = undefined;
    for (const s of sessions) s?.destroy();
  }

  private setState(state: ConnectionState['state'], lastError: string | null, nextAttemptAt: number | null = null): void {
    const changed = state !== this.state.state;
    this.state = { state, since: changed ? Date.now() : this.state.since, lastError, nextAttemptAt };
    if (changed) this.handlers.onStateChange(this.index, state, lastError ?? undefined);
  }
}
