import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { get, post } from '../../helpers/http.js';
import { startWorkers } from '../../../src/services/container.js';
import { netSmppAvailable, startPerlSmsc, type PerlSmsc } from './perl-smsc.js';

const available = netSmppAvailable();
if (!available) {
  if (process.env.CI === 'true') throw new Error("Perl's Net::SMPP (libnet-smpp-perl) is required under CI=true");
  console.warn('\n*** SKIPPED: the SMPP client tests need Perl and Net::SMPP (apt-get install libnet-smpp-perl) ***\n');
}

const SYSTEM_ID = 'gwclient';
const PASSWORD = 'secret1';

async function finalMessage(gw: TestGateway, id: string, statuses = ['delivered', 'undelivered', 'failed']) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { body } = await get(gw.app, `/api/sms/${id}`);
    if (statuses.includes(body.status) || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function send(gw: TestGateway, to: string, message: string, extra: Record<string, unknown> = {}) {
  const res = await post(gw.app, '/api/sms/send', { to: [{ number: to }], message, provider: 'smpp', ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.messages[0].id as string;
}

async function smppState(gw: TestGateway) {
  const { body } = await get(gw.app, '/api/providers');
  return body.items.find((p: { name: string }) => p.name === 'smpp');
}

async function waitForBinds(gw: TestGateway, state: string, extra: (s: any) => boolean = () => true) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const smpp = await smppState(gw);
    if ((smpp.connections.binds.every((b: { state: string }) => b.state === state) && extra(smpp)) || Date.now() > deadline) return smpp;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!available)('provider smpp against a Net::SMPP SMSC', () => {
  let smsc: PerlSmsc;
  let gw: TestGateway;

  beforeAll(async () => {
    smsc = await startPerlSmsc(SYSTEM_ID, PASSWORD, ['--auto-receipt', '--undeliverable-suffix', '99']);
    gw = await startGateway({
      SMPP_HOST: '127.0.0.1', SMPP_PORT: String(smsc.port), SMPP_SYSTEM_ID: SYSTEM_ID, SMPP_PASSWORD: PASSWORD, SMPP_SYSTEM_TYPE: 'gwtest',
      SMPP_SOURCE_ADDR: '+15550001111', SMPP_RECONNECT_BASE_MS: '100', SMPP_RECONNECT_MAX_MS: '500', PHONE_VALIDATION: 'format',
      DISPATCH_POLL_INTERVAL_MS: '10',
    });
    startWorkers(gw.services);
    await waitForBinds(gw, 'bound');
  });

  afterAll(async () => {
    await gw?.stop();
    await smsc?.stop();
  });

  it('binds as a transceiver with the configured credentials and says so in GET /api/providers and /metrics', async () => {
    const bind = await smsc.waitFor((e) => e.event === 'bind');
    expect(bind).toMatchObject({ command: 'bind_transceiver', system_id: SYSTEM_ID, password: PASSWORD, system_type: 'gwtest', interface_version: 0x34, accepted: true });
    const smpp = await smppState(gw);
    expect(smpp).toMatchObject({ enabled: true, connections: { binds: [{ state: 'bound', last_error: null }] } });
    const metrics = await get(gw.app, '/metrics');
    expect(metrics.body).toMatch(/sms_provider_connections\{provider="smpp",state="bound"\} 1/);
  });

  it('sends GSM 03.38 text (extension characters too) as data_coding 0 to 1/1 without the +, and DELIVRD makes it delivered', async () => {
    const text = 'Hello {world} [€5] @home ~ ^_^ \\o/ ÄÖÜ ñ';
    const id = await send(gw, '+14155552671', text);
    const submit = await smsc.waitFor((e) => e.event === 'submit' && e.text === text, 10_000, 'the GSM text');
    expect(submit).toMatchObject({
      data_coding: 0, esm_class: 0, registered_delivery: 1, destination_addr: '14155552671', dest_ton: 1, dest_npi: 1,
      source_addr: '15550001111', source_ton: 1, source_npi: 1,
    });
    const message = await finalMessage(gw, id);
    expect(message.status).toBe('delivered');
    expect(message.provider_message_id).toBe(submit.id);
  });

  it('sends text outside GSM 03.38 as UCS-2 (data_coding 8), emoji intact', async () => {
    const text = 'Привет 👋 ü — 你好';
    const id = await send(gw, '+14155552672', text);
    const submit = await smsc.waitFor((e) => e.event === 'submit' && e.data_coding === 8, 10_000, 'the UCS-2 text');
    expect(submit.text).toBe(text);
    expect((await finalMessage(gw, id)).status).toBe('delivered');
  });

  it('sends a long text as UDH parts (8-bit reference) that join back, and is delivered once every part is', async () => {
    const text = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ') + ' and the last part ends here.';
    expect(text.length).toBeGreaterThan(306);
    const id = await send(gw, '+14155552673', text);
    const message = await finalMessage(gw, id);
    const parts = smsc.events.filter((e) => e.event === 'submit' && e.destination_addr === '14155552673');
    expect(parts).toHaveLength(3);
    expect(parts.map((p) => p.concat.seq)).toEqual([1, 2, 3]);
    expect(new Set(parts.map((p) => p.concat.ref)).size).toBe(1);
    expect(parts.every((p) => p.concat.total === 3 && p.esm_class === 0x40 && p.udh.startsWith('050003'))).toBe(true);
    expect(parts.map((p) => p.text).join('')).toBe(text);
    expect(message).toMatchObject({ status: 'delivered', segments: 3, provider_message_id: parts[0].id });
  });

  it('stat:UNDELIV makes the message undelivered', async () => {
    const id = await send(gw, '+14155552699', 'This one will not arrive');
    const message = await finalMessage(gw, id);
    expect(message).toMatchObject({ status: 'undelivered', error_code: 'UNDELIVERABLE' });
  });

  it('a receipt that names one part of a long text arrives before the others: the message waits for all of them', async () => {
    // Receipts for a message's parts are judged together: one undelivered part makes it undelivered.
    const text = 'x'.repeat(200);
    const id = await send(gw, '+14155552099', text);
    expect((await finalMessage(gw, id)).status).toBe('undelivered');
  });

  it('mobile-originated deliver_sm becomes an inbound message, and STOP opts the sender out', async () => {
    const mosBefore = smsc.events.filter((e) => e.event === 'mo_sent').length;
    smsc.command(`mo 14155550123 15550001111 0 ${Buffer.from(' stop ').toString('hex')}`);
    const sent = await smsc.waitFor((e) => e.event === 'mo_sent' && smsc.events.filter((x) => x.event === 'mo_sent').length > mosBefore);
    const acknowledged = await smsc.waitFor((e) => e.event === 'deliver_sm_resp' && e.seq === sent.seq, 10_000, 'the ESME acknowledging the MO');
    expect(acknowledged.status).toBe(0);
    const inbound = await get(gw.app, '/api/inbound?from=%2B14155550123');
    expect(inbound.body.items[0]).toMatchObject({ from: '+14155550123', text: ' stop ', provider: 'smpp', action: 'opt_out' });
    const optOuts = await get(gw.app, '/api/opt-outs');
    expect(optOuts.body.items.map((o: { number: string }) => o.number)).toContain('+14155550123');
  });

  it('a long mobile-originated message in UDH parts is stored as one text', async () => {
    const ucs2 = (s: string) => Buffer.from(s, 'utf16le').swap16().toString('hex');
    const mosBefore = smsc.events.filter((e) => e.event === 'mo_sent').length;
    smsc.command(`mo-udh 14155550124 15550001111 8 77 2 2 ${ucs2(' второй')}`);
    smsc.command(`mo-udh 14155550124 15550001111 8 77 2 1 ${ucs2('первый')}`);
    const last = await smsc.waitFor((e) => e.event === 'mo_sent' && smsc.events.filter((x) => x.event === 'mo_sent').length === mosBefore + 2);
    await smsc.waitFor((e) => e.event === 'deliver_sm_resp' && e.seq === last.seq, 10_000, 'the last part acknowledged');
    const inbound = await get(gw.app, '/api/inbound?from=%2B14155550124');
    expect(inbound.body.items.map((m: { text: string }) => m.text)).toEqual(['первый второй']);
  });

  it('binds again after the connection drops, shows the reconnect, and sends on the new bind', async () => {
    const bindsBefore = smsc.events.filter((e) => e.event === 'bind').length;
    smsc.command('drop');
    await smsc.waitFor((e) => e.event === 'bind' && smsc.events.filter((x) => x.event === 'bind').length > bindsBefore, 10_000, 'a second bind');
    const smpp = await waitForBinds(gw, 'bound', (s) => s.connections.reconnects >= 1);
    expect(smpp.connections.reconnects).toBeGreaterThanOrEqual(1);
    const metrics = await get(gw.app, '/metrics');
    expect(metrics.body).toMatch(/sms_provider_reconnects\{provider="smpp"\} [1-9]/);
    const id = await send(gw, '+14155552674', 'after the drop');
    expect((await finalMessage(gw, id)).status).toBe('delivered');
  });
});

describe.skipIf(!available)('provider smpp: refusals', () => {
  it('a wrong password is refused at bind: the bind waits to try again and says why', async () => {
    const smsc = await startPerlSmsc(SYSTEM_ID, 'other');
    const gw = await startGateway({ SMPP_HOST: '127.0.0.1', SMPP_PORT: String(smsc.port), SMPP_SYSTEM_ID: SYSTEM_ID, SMPP_PASSWORD: PASSWORD, SMPP_RECONNECT_BASE_MS: '5000' });
    try {
      startWorkers(gw.services);
      await smsc.waitFor((e) => e.event === 'bind' && e.accepted === false);
      const smpp = await waitForBinds(gw, 'waiting');
      expect(smpp.connections.binds[0]).toMatchObject({ state: 'waiting', last_error: expect.stringContaining('ESME_RINVPASWD') });
      expect(smpp.connections.binds[0].next_attempt_at).not.toBeNull();
    } finally {
      await gw.stop();
      await smsc.stop();
    }
  });

  it('SMPP_BIND_MODE=transmitter_receiver binds twice: submits on the transmitter, receipts on the receiver', async () => {
    const smsc = await startPerlSmsc(SYSTEM_ID, PASSWORD, ['--auto-receipt']);
    const gw = await startGateway({
      SMPP_HOST: '127.0.0.1', SMPP_PORT: String(smsc.port), SMPP_SYSTEM_ID: SYSTEM_ID, SMPP_PASSWORD: PASSWORD, SMPP_BIND_MODE: 'transmitter_receiver', PHONE_VALIDATION: 'format',
    });
    try {
      startWorkers(gw.services);
      await smsc.waitFor((e) => e.event === 'bind' && e.command === 'bind_receiver');
      expect(smsc.events.filter((e) => e.event === 'bind').map((e) => e.command)).toEqual(['bind_transmitter', 'bind_receiver']);
      const id = await send(gw, '+14155552677', 'two connections');
      expect((await finalMessage(gw, id)).status).toBe('delivered');
    } finally {
      await gw.stop();
      await smsc.stop();
    }
  });

  it('SMPP_BINDS binds share the sends, each with at most SMPP_WINDOW submits unanswered', async () => {
    const smsc = await startPerlSmsc(SYSTEM_ID, PASSWORD, ['--hold', '--auto-receipt']);
    const gw = await startGateway({
      SMPP_HOST: '127.0.0.1', SMPP_PORT: String(smsc.port), SMPP_SYSTEM_ID: SYSTEM_ID, SMPP_PASSWORD: PASSWORD, SMPP_BINDS: '2', SMPP_WINDOW: '2',
      PHONE_VALIDATION: 'format', PROVIDER_TIMEOUT: '60', DISPATCH_LEASE_SECONDS: '120',
    });
    try {
      startWorkers(gw.services);
      await waitForBinds(gw, 'bound', (s) => s.connections.binds.length === 2);
      const batch = await post(gw.app, '/api/sms/send-batch', {
        recipients: Array.from({ length: 7 }, (_, i) => ({ number: `+1415555270${i}` })), message: 'windowed', provider: 'smpp',
      });
      expect(batch.status).toBe(200);
      // Two binds, two unanswered each: the fifth submit waits for a response.
      await smsc.waitFor((e) => e.event === 'submit' && smsc.events.filter((x) => x.event === 'submit').length === 4, 10_000, 'four submits');
      const heldCount = smsc.events.filter((e) => e.event === 'held').length;
      smsc.command('held');
      const held = await smsc.waitFor((e) => e.event === 'held' && smsc.events.filter((x) => x.event === 'held').length > heldCount);
      expect(held).toMatchObject({ count: 4, per_connection: [2, 2] });
      smsc.command('release');
      const ids = (await get(gw.app, `/api/sms?batch_id=${batch.body.batch_id}`)).body.items.map((m: { id: string }) => m.id);
      for (const id of ids) expect((await finalMessage(gw, id)).status).toBe('delivered');
      expect(smsc.events.filter((e) => e.event === 'submit')).toHaveLength(7);
    } finally {
      await gw.stop();
      await smsc.stop();
    }
  });

  it('a receipt sent before the submit_sm_resp is kept and applied once the answer is stored', async () => {
    const smsc = await startPerlSmsc(SYSTEM_ID, PASSWORD, ['--receipt-first']);
    const gw = await startGateway({ SMPP_HOST: '127.0.0.1', SMPP_PORT: String(smsc.port), SMPP_SYSTEM_ID: SYSTEM_ID, SMPP_PASSWORD: PASSWORD, PHONE_VALIDATION: 'format' });
    try {
      startWorkers(gw.services);
      const id = await send(gw, '+14155552678', 'receipt first');
      const receipt = await smsc.waitFor((e) => e.event === 'receipt_sent');
      const submit = await smsc.waitFor((e) => e.event === 'submit');
      expect(smsc.events.indexOf(receipt)).toBeLessThan(smsc.events.indexOf(submit));
      const message = await finalMessage(gw, id);
      expect(message).toMatchObject({ status: 'delivered', provider_message_id: submit.id });
      expect(message.events.map((e: { status: string }) => e.status)).toEqual(['queued', 'sending', 'sent', 'delivered']);
    } finally {
      await gw.stop();
      await smsc.stop();
    }
  });

  it('ESME_RTHROTTLED puts the message back to wait and it goes on a later attempt; the attempt says why', async () => {
    const smsc = await startPerlSmsc(SYSTEM_ID, PASSWORD, ['--throttle-every', '1', '--auto-receipt']);
    const gw = await startGateway({
      SMPP_HOST: '127.0.0.1', SMPP_PORT: String(smsc.port), SMPP_SYSTEM_ID: SYSTEM_ID, SMPP_PASSWORD: PASSWORD, PHONE_VALIDATION: 'format', SEND_RETRY_BASE_MS: '10',
    });
    try {
      startWorkers(gw.services);
      const id = await send(gw, '+14155552676', 'throttled once');
      await smsc.waitFor((e) => e.event === 'throttled');
      // From now on the SMSC takes submits.
      smsc.command('stop-throttling');
      const message = await finalMessage(gw, id);
      expect(message.status).toBe('delivered');
      expect(message.send_attempts[0]).toMatchObject({ provider: 'smpp', outcome: 'retry', error_code: 'PROVIDER_THROTTLED', provider_error_code: 'ESME_RTHROTTLED (0x58)' });
      expect(message.send_attempts.at(-1)).toMatchObject({ outcome: 'accepted' });
    } finally {
      await gw.stop();
      await smsc.stop();
    }
  });

  it('receipts that write the id in decimal match a hex submit_sm_resp id when SMPP_RECEIPT_IDS says so; the TLVs are read', async () => {
    const smsc = await startPerlSmsc(SYSTEM_ID, PASSWORD, ['--id-format', 'hex', '--receipt-ids', 'decimal', '--auto-receipt', '--receipt-tlvs']);
    const gw = await startGateway({
      SMPP_HOST: '127.0.0.1', SMPP_PORT: String(smsc.port), SMPP_SYSTEM_ID: SYSTEM_ID, SMPP_PASSWORD: PASSWORD, SMPP_RECEIPT_IDS: 'hex_to_decimal', PHONE_VALIDATION: 'format',
    });
    try {
      startWorkers(gw.services);
      const id = await send(gw, '+14155552675', 'hex and decimal');
      const submit = await smsc.waitFor((e) => e.event === 'submit');
      const receipt = await smsc.waitFor((e) => e.event === 'receipt_sent');
      expect(receipt.id).toBe(String(parseInt(submit.id, 16)));
      expect((await finalMessage(gw, id)).status).toBe('delivered');
    } finally {
      await gw.stop();
      await smsc.stop();
    }
  });
});
