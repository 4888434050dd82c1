import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FieldCipher, keyId } from '../../src/domain/field-cipher.js';
import { messageKeyRingFromFile, rotateMessageKey } from '../../src/store/key-file.js';
import { reencryptAll } from '../../src/store/reencrypt.js';
import { onPostgres } from '../helpers/database.js';
import { drain, startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

/** Every file of the data directory (database, WAL, journal), as bytes. */
function dataFiles(dir: string): Array<{ name: string; bytes: Buffer }> {
  return readdirSync(dir).map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
}

describe('encryption at rest', () => {
  it('seals texts, metadata and codes: they are read back in clear through the API only', async () => {
    gw = await startGateway({ SIMULATOR_DELIVERY_DELAY_MS: '0' });
    const text = 'Zebra quartz meeting at the lighthouse, bring the violet umbrella';
    const secretMeta = 'campaign-orchid-7731';
    const sent = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: text, metadata: { tag: secretMeta } });
    await post(gw.app, '/api/otp/generate', { phone_number: { number: US2 }, length: 10, alphanumeric: true, metadata: { purpose: secretMeta } });
    const reply = 'Saffron kettle reply from the customer';
    expect((await post(gw.app, '/api/inbound', { from: US, to: '+14155550100', text: reply })).status).toBe(201);
    expect((await get(gw.app, '/api/inbound')).body.items[0].text).toBe(reply);
    await drain(gw.services);
    const code = (await get(gw.app, `/api/simulator/outbox?to=${encodeURIComponent(US2)}`)).body.items[0].body.match(/[A-Z0-9]{10}/)[0];
    const message = (await get(gw.app, `/api/sms/${sent.body.messages[0].id}`)).body;
    expect(message).toMatchObject({ message: text, metadata: { tag: secretMeta }, status: 'delivered' });

    const stored = await gw.services.store.db.selectFrom('messages').select(['body', 'sealed_body']).execute();
    for (const row of stored) expect(row.body).toMatch(/^e1\.[0-9a-f]{8}\./);
    if (!onPostgres) {
      const dir = dirname(gw.services.config.databaseUrl.slice('sqlite:'.length));
      const files = dataFiles(dir);
      expect(files.map((f) => f.name)).toEqual(expect.arrayContaining(['gateway.db', 'gateway.db-wal']));
      for (const needle of [text, 'violet umbrella', secretMeta, code, reply]) {
        for (const file of files) expect(file.bytes.includes(Buffer.from(needle)), `${needle} in ${file.name}`).toBe(false);
      }
    }
  });

  it('rotates the message key without stopping: old and new values stay readable, then all move to the new key', async () => {
    gw = await startGateway();
    const before = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: US2 }], message: 'before rotation', metadata: { k: 'v1' } });
    const keysFile = gw.services.config.keysFile;
    const oldId = gw.services.cipher.currentKeyId;
    const { current } = rotateMessageKey(keysFile);
    // A running gateway reads what it wrote under the old key, and what is sealed under the new one.
    const rotated = new FieldCipher(messageKeyRingFromFile(keysFile)!);
    expect(rotated.currentKeyId).toBe(keyId(current));
    expect(await reencryptAll(gw.services.store.db, rotated)).toMatchObject({ 'messages.body': 2, 'batches.metadata': 1 });
    const listed = (await get(gw.app, `/api/sms?batch_id=${before.body.batch_id}`)).body.items;
    expect(listed.map((m: any) => [m.message, m.metadata])).toEqual([['before rotation', { k: 'v1' }], ['before rotation', { k: 'v1' }]]);
    const bodies = await gw.services.store.db.selectFrom('messages').select('body').execute();
    expect(bodies.every((b) => b.body.startsWith(`e1.${keyId(current)}.`))).toBe(true);
    expect(oldId).not.toBe(keyId(current));
    // A second pass has nothing left to do.
    expect(Object.values(await reencryptAll(gw.services.store.db, rotated)).every((n) => n === 0)).toBe(true);
  });

  it('refuses to open a value under a key it does not have', () => {
    const a = new FieldCipher({ current: Buffer.alloc(32, 1), previous: [] });
    const b = new FieldCipher({ current: Buffer.alloc(32, 2), previous: [] });
    const sealed = a.seal('hello');
    expect(a.open(sealed)).toBe('hello');
    expect(() => b.open(sealed)).toThrow(/no key/);
    expect(b.open('plain text from before encryption')).toBe('plain text from before encryption');
  });
});
