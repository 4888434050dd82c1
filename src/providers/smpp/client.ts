import { NotFoundError } from '../../domain/errors.js';
import { processLog } from '../../logging.js';
import type { ProviderEvents } from '../provider-events.js';
import type { InboundSms, OutgoingSms, ProviderCapabilities, ProviderConnections, SendOutcome, SmsProvider, StatusReport } from '../provider.js';
import { SmppBind } from './bind.js';
import { destinationAddress, sourceAddress, addressText } from './protocol/address.js';
import { CommandStatus } from './protocol/command-status.js';
import { NotGsm7Error } from './protocol/gsm7.js';
import { SmppClosedError, SmppTimeoutError } from './protocol/errors.js';
import { Reassembler } from './protocol/reassembly.js';
import { parseReceipt, statusOfState } from './protocol/receipt.js';
import type { IncomingPdu } from './protocol/session.js';
import { alphabetOf, decodeUserData, ESM_CLASS, splitUserData, submitBodies } from './protocol/short-message.js';
import { responseId, storedId } from './receipt-ids.js';
import type { SmppSettings } from './settings.js';
import { refusalOutcome } from './submit-outcome.js';

/** How long a send waits for some bind to be up before it goes back to the queue. */
const BIND_WAIT_MS = 2000;
/** Parts of long texts remembered for their receipts (the part's id -> the message's first id). */
const REMEMBERED_PARTS = 100_000;
/** When a receipt kept for later (it beat the stored answer) is looked at again. */
const KEPT_REPORT_RECHECK_MS = 1000;
/** A mobile-originated long text whose parts do not all come within this is dropped. */
const MO_PARTS_MAX_AGE_MS = 300_000;

/**
 * Provider `smpp`: a direct SMPP 3.4 link to a carrier's or aggregator's SMSC. `SMPP_BINDS`
 * binds share the traffic; each keeps at most `SMPP_WINDOW` submits unanswered. Receipts and
 * mobile-originated messages arrive on the binds and are handed to the gateway through
 * `ProviderEvents`; a deliver_sm is acknowledged only once what it carried is stored.
 */
export class SmppProvider implements SmsProvider {
  readonly name = 'smpp' as const;
  readonly capabilities: ProviderCapabilities;
  private readonly binds: SmppBind[];
  private next = 0;
  private reference = Math.floor(Math.random() * 256);
  /** A later part's id -> the first part's id and the count, for receipts that name one part. */
  private readonly partsOf = new Map<string, { firstId: string; count: number }>();
  private readonly moParts: Reassembler<{ id: string }>;
  private readonly rechecks = new Set<NodeJS.Timeout>();
  private started = false;

  constructor(private readonly settings: SmppSettings, private readonly events: ProviderEvents) {
    this.capabilities = {
      messageTypes: ['text', 'unicode', 'binary', 'flash'],
      deliveryReports: true,
      unicode: true,
      // An 8-bit reference header counts parts in one octet.
      maxParts: 255,
      maxConcurrency: settings.binds * settings.window,
      lookup: 'cannot: query_sm needs the SMSC id, which is what a lost submit_sm_resp lost',
    };
    this.binds = Array.from({ length: settings.binds }, (_, i) => new SmppBind(i, settings, {
      onDeliver: (pdu) => this.delivered(pdu),
      onStateChange: (index, state, detail) => {
        const line = `smpp bind ${index + 1}/${settings.binds} to ${settings.host}:${settings.port}: ${state}${detail ? ` (${detail})` : ''}`;
        if (state === 'bound') processLog.info(line);
        else if (state === 'waiting') processLog.warn(line);
      },
    }));
    this.moParts = new Reassembler(MO_PARTS_MAX_AGE_MS, 10_000, (key) => processLog.warn(`smpp: a long mobile-originated message (${key}) never got all its parts; dropped`));
  }

  start(): void {
    this.started = true;
    for (const bind of this.binds) bind.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.binds.map((bind) => bind.stop()));
    for (const timer of this.rechecks) clearTimeout(timer);
    this.rechecks.clear();
  }

  connections(): ProviderConnections | undefined {
    if (!this.started) return undefined;
    return { connections: this.binds.map((b) => b.status), reconnects: this.binds.reduce((n, b) => n + b.reconnects, 0) };
  }

  async send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome> {
    const bind = await this.pickBind(signal);
    if (!bind) return { kind: 'retry', code: 'PROVIDER_UNAVAILABLE', message: `no SMPP bind to ${this.settings.host}:${this.settings.port} is up` };
    const source = sourceAddress(sms.from ?? this.settings.sourceAddr);
    const destination = destinationAddress(sms.to);
    this.reference = (this.reference + 1) & 0xffff;
    let bodies: ReturnType<typeof submitBodies>;
    try {
      bodies = submitBodies(sms.body, sms.encoding, sms.messageType, this.reference, this.settings.longTexts);
    } catch (err) {
      // Nothing went out: a text its encoding cannot carry is refused, not retried.
      if (err instanceof NotGsm7Error) return { kind: 'rejected', code: 'UNSUPPORTED', message: err.message };
      throw err;
    }
    const ids: string[] = [];
    for (const [i, body] of bodies.entries()) {
      const fields = {
        service_type: '', source_addr_ton: source.ton, source_addr_npi: source.npi, source_addr: source.addr,
        dest_addr_ton: destination.ton, dest_addr_npi: destination.npi, destination_addr: destination.addr,
        protocol_id: 0, priority_flag: sms.smsType === 'otp' || sms.smsType === 'alert' ? 1 : 0,
        schedule_delivery_time: '', validity_period: validityPeriod(sms.validitySeconds),
        // Bit 0: a receipt for the final outcome, delivered or not.
        registered_delivery: 1, replace_if_present_flag: 0, sm_default_msg_id: 0, ...body,
      };
      let response: IncomingPdu;
      try {
        response = await bind.submit(fields, signal);
      } catch (err) {
        return this.lostAnswer(err as Error, ids, bodies.length);
      }
      if (response.status !== CommandStatus.ESME_ROK) {
        const refusal = refusalOutcome(response.status);
        if (i === 0) return refusal;
        // Some parts are on their way: sending the whole text again would repeat them.
        return { kind: 'rejected', code: refusal.code, providerErrorCode: refusal.providerErrorCode, message: `parts 1-${i} of ${bodies.length} were accepted (${ids.join(', ')}), part ${i + 1} refused: ${refusal.message}` };
      }
      ids.push(storedId(response.text('message_id'), this.settings.receiptIds));
      // At once, part by part: the SMSC may send a part's receipt right behind its response.
      if (bodies.length > 1) this.rememberPart(ids[ids.length - 1], ids[0], bodies.length);
    }
    return { kind: 'accepted', providerMessageId: ids[0], ...(ids.length > 1 ? { partIds: ids } : {}) };
  }

  /** SMPP reports arrive on the bind; nothing comes to a webhook. */
  parseWebhook(): StatusReport[] {
    throw new NotFoundError('webhook for provider', 'smpp (its receipts arrive on the SMPP bind)');
  }

  /** A bound bind with a free window slot, round robin; waits briefly while every bind is down or full. */
  private async pickBind(signal: AbortSignal): Promise<SmppBind | undefined> {
    const deadline = Date.now() + BIND_WAIT_MS;
    for (;;) {
      for (let i = 0; i < this.binds.length; i++) {
        const bind = this.binds[(this.next + i) % this.binds.length];
        if (bind.freeSlots > 0) {
          this.next = (this.next + i + 1) % this.binds.length;
          return bind;
        }
      }
      // Full windows: any bound bind will take it once a response frees a slot.
      const bound = this.binds.find((b) => b.isBound);
      if (bound) return bound;
      if (Date.now() >= deadline || signal.aborted) return undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private lostAnswer(err: Error, acceptedIds: string[], parts: number): SendOutcome {
    const sentSome = acceptedIds.length > 0 ? ` (parts 1-${acceptedIds.length} of ${parts} accepted: ${acceptedIds.join(', ')})` : '';
    if (err instanceof SmppClosedError && !err.written && acceptedIds.length === 0) {
      return { kind: 'retry', code: 'PROVIDER_UNAVAILABLE', message: `the SMPP bind went down before the submit: ${err.message}` };
    }
    // Written to the socket and never answered: the SMSC may have it. Never resent blindly.
    const code = err instanceof SmppTimeoutError ? 'PROVIDER_TIMEOUT' : 'PROVIDER_ERROR';
    return { kind: 'unknown', code, message: `${err.message}${sentSome}` };
  }

  /** The dispatcher applies kept reports as it stores the answer; once that has surely committed, look again. */
  private applyKeptLater(ids: string[]): void {
    const timer = setTimeout(() => {
      this.rechecks.delete(timer);
      this.events.applyKept(this.name, ids).catch((err: Error) => processLog.warn(`smpp: kept receipts not applied: ${err.message}`));
    }, KEPT_REPORT_RECHECK_MS);
    this.rechecks.add(timer);
  }

  private rememberPart(id: string, firstId: string, count: number): void {
    this.partsOf.set(id, { firstId, count });
    while (this.partsOf.size > REMEMBERED_PARTS) this.partsOf.delete(this.partsOf.keys().next().value as string);
  }

  /** A deliver_sm: a receipt (esm_class 0x04) or a mobile-originated message. Resolves with the status to answer. */
  private async delivered(pdu: IncomingPdu): Promise<number> {
    const esmClass = pdu.int('esm_class');
    const { octets, concatenation } = splitUserData(esmClass, pdu.bytes('message_payload') ?? pdu.bytes('short_message') ?? Buffer.alloc(0), {
      ref: pdu.optionalInt('sar_msg_ref_num'), total: pdu.optionalInt('sar_total_segments'), seq: pdu.optionalInt('sar_segment_seqnum'),
    });
    const alphabet = alphabetOf(pdu.int('data_coding'));
    if ((esmClass & ESM_CLASS.TYPE_MASK) === ESM_CLASS.DELIVERY_RECEIPT) {
      const receipt = parseReceipt(decodeUserData(octets, alphabet.kind === 'binary' ? { kind: 'latin1', flash: false } : alphabet), {
        receiptedMessageId: pdu.optionalText('receipted_message_id'), messageState: pdu.optionalInt('message_state'), networkErrorCode: pdu.bytes('network_error_code'),
      });
      if (!receipt) return CommandStatus.ESME_ROK;
      // A receipt read in the same chunk as its submit_sm_resp is handled before the send sees that
      // response: let the send take it first, so the part is known by its message.
      await new Promise((resolve) => setImmediate(resolve));
      const outcome = statusOfState(receipt.state);
      // ENROUTE, ACCEPTD, UNKNOWN: nothing we do not already know.
      if (!outcome) return CommandStatus.ESME_ROK;
      const { kept } = await this.events.statusReports(this.name, [this.report(responseId(receipt.messageId, this.settings.receiptIds), outcome, receipt.error)]);
      if (kept.length > 0) this.applyKeptLater(kept);
      return CommandStatus.ESME_ROK;
    }
    const from = addressText(pdu.int('source_addr_ton'), pdu.text('source_addr'));
    const to = addressText(pdu.int('dest_addr_ton'), pdu.text('destination_addr'));
    let text = octets;
    if (concatenation) {
      const whole = this.moParts.add(`${from}|${to}`, concatenation, octets, { id: String(pdu.sequence) });
      // Acknowledged now and held in memory until the other parts come.
      if (!whole) return CommandStatus.ESME_ROK;
      text = whole.octets;
    }
    const sms: InboundSms = { from, to, text: decodeUserData(text, alphabet), receivedAt: Date.now() };
    await this.events.inbound(this.name, sms);
    return CommandStatus.ESME_ROK;
  }

  private report(id: string, outcome: NonNullable<ReturnType<typeof statusOfState>>, providerErrorCode: string | undefined): StatusReport {
    const common = { status: outcome.status, ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}), ...(providerErrorCode ? { providerErrorCode } : {}) };
    const known = this.partsOf.get(id);
    // Named by the first part's id, so a receipt that beats the stored answer waits under the id the dispatcher applies.
    if (known) return { ...common, providerMessageId: known.firstId, part: { id, count: known.count } };
    // After a restart: the part's own id finds its message through the stored part ids.
    return { ...common, providerMessageId: id, part: { id } };
  }
}

/** Relative validity, `YYMMDDhhmmss000R` (SMPP 3.4, 7.1.1), or none (the SMSC's default). */
function validityPeriod(seconds: number | undefined): string {
  if (seconds === undefined) return '';
  const s = Math.min(seconds, 99 * 86400);
  const two = (n: number) => String(n).padStart(2, '0');
  return `0000${two(Math.floor(s / 86400))}${two(Math.floor(s / 3600) % 24)}${two(Math.floor(s / 60) % 60)}${two(s % 60)}000R`;
}
