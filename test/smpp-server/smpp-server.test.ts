import smpp, { type RawPdu, type Session } from 'smpp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers } from '../../src/services/container.js';
import { BIND_FAIL_DELAY_MS } from '../../src/smpp-server/esme-session.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { del, get, post } from './http.js';

const ROK = 0x00;
const ESME_RINVBNDSTS = 0x04;
const ESME_RINVDSTADR = 0x0b;
const ESME_RBINDFAIL = 0x0d;
const ESME_RTHROTTLED = 0x58;

/** An ESME on the `smpp` package's own client, talking to the gateway's SMPP server. */
class Esme {
  readonly received: RawPdu[] = [];
  private constructor(readonly session: Session) {
    session.on('pdu', (pdu: RawPdu) => {
      if (pdu.isResponse()) return;
      this.received.push(pdu);
      // Acknowledge receipts at once, as an ESME must.
      if (pdu.command === 'deliver_sm') session.send(pdu.response({ message_id: '' }));
      if (pdu.command === 'enquire_link') session.send(pdu.response());
    });
    session.on('error', () => {});
  }

  static connect(port: number): Promise<Esme> {
    return new Promise((resolve, reject) => {
      const session = smpp.connect({ host: '127.0.0.1', port });
      session.once('connect', () => resolve(new Esme(session)));
      session.once('error', reject);
    });
  }

  request(command: string, fields: Record<string, unknown> = {}): Promise<RawPdu> {
    return new Promise((resolve) => this.session.send(new smpp.PDU(command, fields), resolve));
  }

  closed(): Promise<void> {
    return new Promise((resolve) => (this.session.socket.destroyed ? resolve() : this.session.socket.once('close', () => resolve())));
  }

  async waitFor(predicate: (pdu: RawPdu) => boolean, count = 1): Promise<RawPdu[]> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = this.received.filter(predicate);
      if (found.length >= count) return found;
      if (Date.now() > deadline) throw new Error(`the ESME received ${found.length} of ${count} expected PDUs: ${JSON.stringify(this.received.map((p) => p.command))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    this.session.destroy();
  }
}

/** Reads until `done` says so (or 15 s pass, and the last reading goes to the assertions). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function submit(destination: string, text: string, extra: Record<string, unknown> = {}) {
  return {
    source_addr_ton: 5, source_addr_npi: 0, source_addr: 'ACME', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: destination,
    registered_delivery: 1, data_coding: 0, short_message: Buffer.from(text, 'latin1'), ...extra,
  };
}

describe('SMPP server', () => {
  let gw: TestGateway;
  let port: number;
  const esmes: Esme[] = [];
  const connect = async () => {
    const esme = await Esme.connect(port);
    esmes.push(esme);
    return esme;
  };
  const bound = async (systemId: string, password: string, command = 'bind_transceiver') => {
    const esme = await connect();
    const response = await esme.request(command, { system_id: systemId, password, interface_version: 0x34 });
    expect(response.command_status).toBe(ROK);
    return esme;
  };

  beforeAll(async () => {
    gw = await startGateway({ SMPP_SERVER_PORT: '0', SMPP_SERVER_HOST: '127.0.0.1', PHONE_VALIDATION: 'format', DISPATCH_POLL_INTERVAL_MS: '10' });
    for (const account of [
      { system_id: 'acme', password: 'pw1' },
      { system_id: 'slow', password: 'pw2', throughput_per_second: 2 },
      { system_id: 'single', password: 'pw3', max_binds: 1 },
      { system_id: 'reader', password: 'pw4', scopes: ['read'] },
    ]) expect((await post(gw.app, '/api/smpp/accounts', account)).status).toBe(201);
    await gw.smppServer!.start();
    port = gw.smppServer!.port!;
    startWorkers(gw.services);
  });

  // An account's receipts go to any of its receiving binds: each test has its own.
  afterEach(async () => {
    for (const esme of esmes.splice(0)) {
      esme.close();
      await esme.closed();
    }
    // The server forgets a closed bind once its socket's close event has run.
    await new Promise((r) => setImmediate(r));
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('keeps accounts through /api/smpp/accounts: passwords of at most 8 characters, never shown, a system_id once', async () => {
    const created = await post(gw.app, '/api/smpp/accounts', { system_id: 'temp', password: '12345678', throughput_per_second: 5 });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ system_id: 'temp', throughput_per_second: 5, max_binds: 4, scopes: ['sms:send'], created_at: expect.any(String) });
    expect((await post(gw.app, '/api/smpp/accounts', { system_id: 'temp', password: 'x' })).status).toBe(409);
    const tooLong = await post(gw.app, '/api/smpp/accounts', { system_id: 'other', password: '123456789' });
    expect(tooLong.status).toBe(422);
    expect(JSON.stringify(tooLong.body)).toContain('password');
    expect((await get(gw.app, '/api/smpp/accounts')).body.items.map((a: { system_id: string }) => a.system_id)).toContain('temp');
    expect((await get(gw.app, '/api/smpp/accounts/temp')).body.password).toBeUndefined();
    expect((await del(gw.app, '/api/smpp/accounts/temp')).status).toBe(204);
    expect((await get(gw.app, '/api/smpp/accounts/temp')).status).toBe(404);
    const audit = await until(() => get(gw.app, '/api/audit?action=smpp_accounts.delete'), (a) => a.body.items.length > 0);
    expect(audit.body.items[0]).toMatchObject({ action: 'smpp_accounts.delete', resource: 'smpp_account', resource_id: 'temp', result: 204 });
  });

  it('refuses a bad bind with ESME_RBINDFAIL, only after a delay, and closes the connection', async () => {
    const esme = await connect();
    const started = Date.now();
    const response = await esme.request('bind_transmitter', { system_id: 'acme', password: 'wrong', interface_version: 0x34 });
    expect(response.command_status).toBe(ESME_RBINDFAIL);
    expect(Date.now() - started).toBeGreaterThanOrEqual(BIND_FAIL_DELAY_MS - 50);
    await esme.closed();
  });

  it('holds an account to its bind limit, and refuses to bind to submit without the sms:send scope', async () => {
    await bound('single', 'pw3');
    const second = await connect();
    expect((await second.request('bind_transceiver', { system_id: 'single', password: 'pw3' })).command_status).toBe(ESME_RBINDFAIL);
    const reader = await connect();
    expect((await reader.request('bind_transmitter', { system_id: 'reader', password: 'pw4' })).command_status).toBe(ESME_RBINDFAIL);
    await bound('reader', 'pw4', 'bind_receiver');
  });

  it('answers enquire_link and unbind', async () => {
    const esme = await bound('acme', 'pw1');
    expect((await esme.request('enquire_link')).command_status).toBe(ROK);
    expect((await esme.request('unbind')).command).toBe('unbind_resp');
    await esme.closed();
  });

  it('a receiver bind may not submit', async () => {
    const esme = await bound('acme', 'pw1', 'bind_receiver');
    expect((await esme.request('submit_sm', submit('14155550100', 'nope'))).command_status).toBe(ESME_RINVBNDSTS);
  });

  it('answers ESME_RTHROTTLED past the account throughput', async () => {
    const esme = await bound('slow', 'pw2', 'bind_transmitter');
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => esme.request('submit_sm', submit(`1415555020${i}`, `burst ${i}`))));
    const statuses = answers.map((a) => a.command_status);
    expect(statuses.filter((s) => s === ROK)).toHaveLength(2);
    expect(statuses.filter((s) => s === ESME_RTHROTTLED)).toHaveLength(3);
  });

  it('submits through the normal path, answers with our id, and sends the receipt back as deliver_sm (text and TLVs)', async () => {
    const esme = await bound('acme', 'pw1');
    const response = await esme.request('submit_sm', submit('14155550101', 'Hello @ SMPP!', { short_message: Buffer.from([0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x00, 0x20, 0x53, 0x4d, 0x50, 0x50, 0x21]) }));
    expect(response.command_status).toBe(ROK);
    const id = String(response.message_id);
    const message = await get(gw.app, `/api/sms/${id}`);
    expect(message.body).toMatchObject({ to: '+14155550101', from_number: 'ACME', message: 'Hello @ SMPP!', submitted_via: 'smpp:acme' });
    const [receipt] = await esme.waitFor((p) => p.command === 'deliver_sm' && p.receipted_message_id === id);
    expect(receipt.esm_class).toBe(0x04);
    expect(receipt.message_state).toBe(2);
    expect(receipt).toMatchObject({ source_addr: '14155550101', destination_addr: 'ACME', dest_addr_ton: 5 });
    expect(Buffer.from(receipt.short_message as Buffer).toString('ascii'))
      .toMatch(new RegExp(`^id:${id} sub:001 dlvrd:001 submit date:\\d{10} done date:\\d{10} stat:DELIVRD err:000 text:Hello \\? SMPP!$`));
  });

  it('registered_delivery 2 asks for failures only: a delivered message sends no receipt, an undeliverable one does', async () => {
    const esme = await bound('acme', 'pw1');
    const quiet = await esme.request('submit_sm', submit('14155550105', 'failures only', { registered_delivery: 2 }));
    expect(quiet.command_status).toBe(ROK);
    await until(() => get(gw.app, `/api/sms/${quiet.message_id}`), (m) => m.body.status === 'delivered');
    // A receipt asked with 1 after it, on the same bind: once that one has come, the first would have too.
    const loud = await esme.request('submit_sm', submit('14155550106', 'every outcome', { registered_delivery: 1 }));
    await esme.waitFor((p) => p.command === 'deliver_sm' && p.receipted_message_id === loud.message_id);
    expect(esme.received.filter((p) => p.command === 'deliver_sm' && p.receipted_message_id === quiet.message_id)).toEqual([]);
  });

  it('joins sar_* parts into one message, answering each part with its own id, and sends a receipt for each', async () => {
    const esme = await bound('acme', 'pw1');
    const sar = (seq: number) => ({ sar_msg_ref_num: 513, sar_total_segments: 2, sar_segment_seqnum: seq });
    const ucs2 = (s: string) => Buffer.from(s, 'utf16le').swap16();
    const first = await esme.request('submit_sm', submit('14155550102', '', { data_coding: 8, short_message: ucs2('Длинное сообщение, '), ...sar(1) }));
    const second = await esme.request('submit_sm', submit('14155550102', '', { data_coding: 8, short_message: ucs2('часть вторая 👋'), ...sar(2) }));
    expect([first.command_status, second.command_status]).toEqual([ROK, ROK]);
    expect(first.message_id).not.toBe(second.message_id);
    const outbox = await until(() => get(gw.app, '/api/simulator/outbox?to=%2B14155550102'), (o) => o.body.items.length > 0);
    expect(outbox.body.items.map((m: { body: string }) => m.body)).toEqual(['Длинное сообщение, часть вторая 👋']);
    const receipts = await esme.waitFor((p) => p.command === 'deliver_sm' && (p.receipted_message_id === first.message_id || p.receipted_message_id === second.message_id), 2);
    expect(receipts.map((r) => r.message_state)).toEqual([2, 2]);
  });

  it('submit_multi: each destination is a message; refused ones are listed with their status', async () => {
    const esme = await bound('acme', 'pw1');
    const response = await esme.request('submit_multi', {
      source_addr_ton: 1, source_addr_npi: 1, source_addr: '15550001111', registered_delivery: 0, data_coding: 0, short_message: Buffer.from('to many'),
      dest_address: [{ dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550103' }, { dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '12' }],
    });
    expect(response.command_status).toBe(ROK);
    expect(response.unsuccess_sme).toEqual([{ dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '12', error_status_code: ESME_RINVDSTADR }]);
    expect((await get(gw.app, `/api/sms/${response.message_id}`)).body).toMatchObject({ to: '+14155550103', message: 'to many', submitted_via: 'smpp:acme' });
  });

  it('data_sm with message_payload is a message like submit_sm', async () => {
    const esme = await bound('acme', 'pw1');
    const response = await esme.request('data_sm', {
      source_addr_ton: 1, source_addr_npi: 1, source_addr: '15550001111', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550104',
      registered_delivery: 0, data_coding: 0, message_payload: Buffer.from('payload text'),
    });
    expect(response.command_status).toBe(ROK);
    expect((await get(gw.app, `/api/sms/${response.message_id}`)).body).toMatchObject({ message: 'payload text', submitted_via: 'smpp:acme' });
    const list = await get(gw.app, '/api/sms?to=%2B14155550104');
    expect(list.body.items[0].submitted_via).toBe('smpp:acme');
  });
});
