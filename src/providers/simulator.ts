import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError, ValidationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { MessageStatus } from '../domain/message-status.js';
import { MAX_REPORTS_PER_REQUEST, type LookupHint, type OutgoingSms, type SendOutcome, type SmsProvider, type StatusReport, type WebhookRequest } from './provider.js';

export interface SimulatorOutboxEntry {
  id: string;
  message_id: string;
  to_number: string;
  from_number: string | null;
  body: string;
  encoding: string;
  segments: number;
  accepted_at: number;
  report_due_at: number;
  report_status: string;
}

/** Where the simulated handset network keeps what it "delivered"; durable, so it outlives a crash. */
export interface SimulatorOutbox {
  record(entry: SimulatorOutboxEntry): Promise<void>;
  findByMessageId(messageId: string): Promise<{ id: string } | null>;
}

export interface SimulatorSettings {
  deliveryDelayMs: number;
  failureRate: number;
  transientErrorRate: number;
  latencyMs: number;
  webhookSecret: string | undefined;
}

/** The simulator's own delivery report, as it would post it to /api/webhooks/simulator. */
export interface SimulatorReport {
  message_sid: string;
  client_ref: string;
  status: 'delivered' | 'undelivered';
  error_code: string | null;
  timestamp: string;
}

const REPORT_STATUSES = new Set(['delivered', 'undelivered', 'failed', 'sent']);

/**
 * A provider with no network behind it: accepts every well-formed message, keeps it in an
 * outbox a developer can read, and reports delivery (or a failure, at `failureRate`) after
 * `deliveryDelayMs`, through the same report path as a real provider.
 */
export class SimulatorProvider implements SmsProvider {
  readonly name = 'simulator' as const;
  // No network behind it: a whole round can be in flight, so its outbox writes share one commit.
  readonly capabilities = {
    messageTypes: ['text', 'unicode', 'binary', 'flash'] as const, deliveryReports: true, unicode: true, maxParts: 255, maxConcurrency: 5000,
    lookup: 'by our message id, in its own outbox',
  };

  constructor(
    private readonly outbox: SimulatorOutbox,
    private readonly settings: SimulatorSettings,
    private readonly random: () => number = Math.random,
  ) {}

  async send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome> {
    if (this.settings.latencyMs > 0) await delay(this.settings.latencyMs, signal);
    if (this.settings.transientErrorRate > 0 && this.random() < this.settings.transientErrorRate) {
      return { kind: 'retry', code: 'SIM_THROTTLED', message: 'simulated throttling: try again later' };
    }
    const now = Date.now();
    const fails = this.settings.failureRate > 0 && this.random() < this.settings.failureRate;
    const entry: SimulatorOutboxEntry = {
      id: newId('sim', now),
      message_id: sms.id,
      to_number: sms.to,
      from_number: sms.from ?? null,
      body: sms.body,
      encoding: sms.encoding,
      segments: sms.segments,
      accepted_at: now,
      report_due_at: now + this.settings.deliveryDelayMs,
      report_status: fails ? 'undelivered' : 'delivered',
    };
    await this.outbox.record(entry);
    return { kind: 'accepted', providerMessageId: entry.id };
  }

  async lookup(hint: LookupHint): Promise<{ providerMessageId: string } | null> {
    const found = await this.outbox.findByMessageId(hint.messageId);
    return found ? { providerMessageId: found.id } : null;
  }

  /** The report the simulated network sends for one outbox entry. */
  reportFor(entry: Pick<SimulatorOutboxEntry, 'id' | 'message_id' | 'report_status'>, now = Date.now()): SimulatorReport {
    const delivered = entry.report_status === 'delivered';
    return {
      message_sid: entry.id,
      client_ref: entry.message_id,
      status: delivered ? 'delivered' : 'undelivered',
      error_code: delivered ? null : 'SIM_UNREACHABLE',
      timestamp: new Date(now).toISOString(),
    };
  }

  sign(rawBody: string): string {
    return 'sha256=' + createHmac('sha256', this.settings.webhookSecret ?? '').update(rawBody).digest('hex');
  }

  parseWebhook(request: WebhookRequest): StatusReport[] {
    if (this.settings.webhookSecret !== undefined) {
      const given = String(request.headers['x-simulator-signature'] ?? '');
      const expected = this.sign(request.rawBody);
      if (given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
        throw new UnauthorizedError('X-Simulator-Signature does not match the body');
      }
    }
    const reports = Array.isArray(request.body) ? request.body : [request.body];
    // Refused before mapping: the status service takes at most this many, and mapping 25,000 would hold the event loop.
    if (reports.length > MAX_REPORTS_PER_REQUEST) {
      throw new ValidationError(`at most ${MAX_REPORTS_PER_REQUEST} reports per request`, [{ field: 'body', message: `has ${reports.length} reports; at most ${MAX_REPORTS_PER_REQUEST}` }]);
    }
    return reports.map((r, i) => toStatusReport(r as Partial<SimulatorReport>, i));
  }

  toStatusReport(report: SimulatorReport): StatusReport {
    return toStatusReport(report, 0);
  }
}

function toStatusReport(r: Partial<SimulatorReport>, i: number): StatusReport {
  if (typeof r?.message_sid !== 'string' || typeof r.status !== 'string' || !REPORT_STATUSES.has(r.status)) {
    throw new ValidationError('not a simulator delivery report', [{ field: `[${i}]`, message: 'needs message_sid and status (delivered, undelivered, failed, sent)' }]);
  }
  const at = r.timestamp ? Date.parse(r.timestamp) : NaN;
  return {
    providerMessageId: r.message_sid,
    messageId: typeof r.client_ref === 'string' ? r.client_ref : undefined,
    status: r.status as MessageStatus,
    errorCode: r.error_code ?? undefined,
    errorMessage: r.error_code ? 'simulated delivery failure' : undefined,
    timestamp: Number.isNaN(at) ? undefined : at,
  };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
