import { processLog } from '../logging.js';
import { Reassembler } from '../providers/smpp/protocol/reassembly.js';
import { listenForSessions, type SmppSession } from '../providers/smpp/protocol/session.js';
import type { Services } from '../services/container.js';
import { PollingLoop } from '../services/polling-loop.js';
import type { SmppAccount } from './account-service.js';
import { EsmeSession, type SessionHost } from './esme-session.js';
import { ReceiptDelivery } from './receipt-delivery.js';
import { AccountThroughput } from './throughput.js';

/** Parts of a long text are held this long for their siblings, then dropped (and logged). */
const PARTS_MAX_AGE_MS = 300_000;
const PARTS_MAX_MESSAGES = 10_000;
/** How often bound accounts are checked for deletion (a deleted account's binds are closed). */
const ACCOUNT_CHECK_MS = 5000;

/**
 * The SMPP server (SMPP_SERVER_PORT): ESMEs bind with an SMPP account and submit through the
 * gateway's normal send path; receipts go back to them as deliver_sm.
 */
export class SmppServer implements SessionHost {
  readonly parts = new Reassembler<{ id: string; registeredDelivery: number }>(PARTS_MAX_AGE_MS, PARTS_MAX_MESSAGES, (key, received) => {
    processLog.warn(`smpp server: a long text (${key.split('|')[0]}) got ${received.length} of its parts within ${PARTS_MAX_AGE_MS / 1000} s; dropped (parts ${received.map((p) => p.id).join(', ')})`);
  });
  private readonly sessions = new Set<EsmeSession>();
  private readonly throughputs = new Map<string, { perSecond: number; bucket: AccountThroughput }>();
  private readonly receipts: ReceiptDelivery;
  private readonly receiptLoop: PollingLoop;
  private accountCheck: NodeJS.Timeout | undefined;
  private listener: { port: number; close(): Promise<void> } | undefined;
  private nextReceiver = 0;

  constructor(readonly services: Services, private readonly options: { port: number; host: string }) {
    this.receipts = new ReceiptDelivery(services.store.db, services.store.dialect, services.commits, services.cipher, {
      accounts: () => [...new Set([...this.sessions].filter((s) => s.receives && s.account).map((s) => s.account!.systemId))],
      sessionFor: (systemId) => this.receiverFor(systemId),
    });
    this.receiptLoop = new PollingLoop('smpp receipts', 200, () => this.receipts.deliverDue());
  }

  /** The port it listens on (the real one when SMPP_SERVER_PORT is 0). */
  get port(): number | undefined {
    return this.listener?.port;
  }

  async start(): Promise<void> {
    this.listener = await listenForSessions(this.options.port, this.options.host, (connection) => this.accept(connection));
    processLog.info(`smpp server: accepting ESME binds on ${this.options.host}:${this.listener.port}`);
    this.receiptLoop.start();
    this.accountCheck = setInterval(() => void this.dropDeletedAccounts(), ACCOUNT_CHECK_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.accountCheck);
    await this.receiptLoop.stop();
    await this.listener?.close();
    this.listener = undefined;
  }

  bindsOf(systemId: string): number {
    return [...this.sessions].filter((s) => s.account?.systemId === systemId).length;
  }

  throughputOf(account: SmppAccount): AccountThroughput {
    const known = this.throughputs.get(account.systemId);
    if (known && known.perSecond === account.throughputPerSecond) return known.bucket;
    const bucket = new AccountThroughput(account.throughputPerSecond);
    this.throughputs.set(account.systemId, { perSecond: account.throughputPerSecond, bucket });
    return bucket;
  }

  receiverBound(): void {
    this.receiptLoop.nudge();
  }

  private accept(connection: SmppSession): void {
    const session = new EsmeSession(connection, this, () => this.sessions.delete(session));
    this.sessions.add(session);
  }

  /** Receipts of an account spread over its receiving binds. */
  private receiverFor(systemId: string): SmppSession | undefined {
    const receivers = [...this.sessions].filter((s) => s.receives && s.account?.systemId === systemId && s.connection.isOpen);
    if (receivers.length === 0) return undefined;
    return receivers[this.nextReceiver++ % receivers.length].connection;
  }

  private async dropDeletedAccounts(): Promise<void> {
    const bound = new Set([...this.sessions].flatMap((s) => (s.account ? [s.account.systemId] : [])));
    for (const systemId of bound) {
      if (await this.services.smppAccounts.exists(systemId).catch(() => true)) continue;
      processLog.warn(`smpp server: account "${systemId}" was deleted; closing its binds`);
      for (const s of this.sessions) if (s.account?.systemId === systemId) s.connection.destroy();
    }
  }
}
