/**
 * Submits per second through one SMPP bind at window 10, beside Kannel's own figure on the same
 * machine against the same SMSC: a local SMSC on the `smpp` package (its own process) that answers
 * every submit_sm at once and counts them per system_id.
 *
 * Usage: npx tsx bench/smpp.ts [--messages 20000]
 *   ours:   the `smpp` provider's send() (one bind, SMPP_WINDOW=10), called as the dispatcher calls it;
 *           no database, so this is the SMPP link's own ceiling.
 *   kannel: bearerbox (one transceiver bind, max-pending-submits 10, its default) with every message queued
 *           through smsbox's sendsms before the SMSC comes up, timed at the SMSC from its first to its last submit_sm.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import smpp, { type RawPdu } from 'smpp';
import { ProviderEventRelay } from '../src/providers/provider-events.js';
import { SmppProvider } from '../src/providers/smpp/client.js';
import { readSmppSettings } from '../src/providers/smpp/settings.js';
import { envReader } from '../src/config.js';
import { freePort } from '../test/helpers/process.js';
import { kannelAvailable, startKannel } from '../test/smpp-server/kannel.js';

interface Tally { count: number; firstAt: number; lastAt: number }

// --- the SMSC, in its own process so it does not share an event loop with what it measures ----------
if (process.argv[2] === 'smsc') {
  const port = Number(process.argv[3]);
  const tallies = new Map<string, Tally>();
  let nextId = 1;
  const server = smpp.createServer({}, (session) => {
    let systemId = '';
    session.on('error', () => {});
    session.on('pdu', (pdu: RawPdu) => {
      if (pdu.command.startsWith('bind_')) {
        systemId = String(pdu.system_id);
        session.send(pdu.response({ system_id: 'BENCH' }));
      } else if (pdu.command === 'submit_sm') {
        const now = performance.now();
        const t = tallies.get(systemId) ?? { count: 0, firstAt: now, lastAt: now };
        t.count++;
        t.lastAt = now;
        tallies.set(systemId, t);
        session.send(pdu.response({ message_id: String(nextId++) }));
      } else if (pdu.command === 'enquire_link' || pdu.command === 'unbind') {
        session.send(pdu.response());
      }
    });
  });
  server.listen(port, '127.0.0.1', () => process.send!({ listening: true }));
  process.on('message', (m: { tally?: string }) => {
    if (m.tally !== undefined) process.send!({ tally: tallies.get(m.tally) ?? null });
  });
} else {
  await main();
}

function ask(smsc: ChildProcess, systemId: string): Promise<Tally | null> {
  return new Promise((resolve) => {
    smsc.once('message', (m: { tally: Tally | null }) => resolve(m.tally));
    smsc.send({ tally: systemId });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '20000' } } });
  const total = Number(values.messages);
  const port = await freePort();
  const smsc = await startSmsc(port);
  try {
    const ours = await benchOurs(port, total, smsc);
    console.log(`ours:   ${total} submits through 1 bind, window 10: ${ours.toFixed(0)} submits/s`);
  } finally {
    smsc.kill();
  }
  if (!kannelAvailable()) {
    console.log('kannel: not installed (apt-get install kannel); no figure');
    return;
  }
  const kannel = await benchKannel(total);
  console.log(`kannel: ${kannel.count} queued submits through 1 bind, max-pending-submits 10: ${kannel.rate.toFixed(0)} submits/s (at the SMSC, first to last submit)`);
}

async function startSmsc(port: number): Promise<ChildProcess> {
  const smsc = fork(import.meta.filename, ['smsc', String(port)], { execArgv: ['--import', 'tsx'] });
  await new Promise((resolve) => smsc.once('message', resolve));
  return smsc;
}

async function benchOurs(port: number, total: number, smsc: ChildProcess): Promise<number> {
  const settings = readSmppSettings(envReader({ SMPP_HOST: '127.0.0.1', SMPP_PORT: String(port), SMPP_SYSTEM_ID: 'ours', SMPP_PASSWORD: 'pw', SMPP_WINDOW: '10', SMPP_BINDS: '1' }))!;
  const provider = new SmppProvider(settings, new ProviderEventRelay());
  provider.start();
  while (provider.connections()?.connections[0].state !== 'bound') await new Promise((r) => setTimeout(r, 10));
  const send = (i: number) => provider.send({
    id: `msg_${i}`, to: `+4477009${String(i % 100000).padStart(5, '0')}`, from: '+15550001111', body: `Benchmark message number ${i}`,
    messageType: 'text', encoding: 'GSM-7', segments: 1, smsType: 'transactional', statusCallbackUrl: '', validitySeconds: undefined,
  }, AbortSignal.timeout(30_000));
  // As the dispatcher does: at most maxConcurrency (binds x window) sends in flight.
  const run = async (count: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: provider.capabilities.maxConcurrency }, async () => {
      while (next < count) {
        const outcome = await send(next++);
        if (outcome.kind !== 'accepted') throw new Error(`send ${outcome.kind}: ${JSON.stringify(outcome)}`);
      }
    }));
  };
  await run(1000);
  const started = performance.now();
  await run(total);
  const elapsed = (performance.now() - started) / 1000;
  await provider.stop();
  const tally = await ask(smsc, 'ours');
  if (!tally || tally.count !== total + 1000) throw new Error(`the SMSC counted ${tally?.count} submits, expected ${total + 1000}`);
  return total / elapsed;
}

async function benchKannel(total: number): Promise<{ count: number; rate: number }> {
  // Kannel binds to an SMSC that is not there yet and queues every message first: its bind then
  // drains a full queue, so what is timed is the bind, not smsbox's HTTP intake.
  const port = await freePort();
  const kannel = await startKannel(port, 'kannel', 'pw', { logLevel: 4 });
  let smsc: ChildProcess | undefined;
  try {
    const sendsms = (i: number) => fetch(`${kannel.sendsmsUrl}?${new URLSearchParams({
      username: kannel.username, password: kannel.password, to: `+4477009${String(i % 100000).padStart(5, '0')}`, text: `Benchmark message number ${i}`,
    })}`).then(async (res) => {
      if (res.status >= 300) throw new Error(`sendsms ${res.status}: ${await res.text()}`);
    });
    let next = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      while (next < total) await sendsms(next++);
    }));
    smsc = await startSmsc(port);
    for (;;) {
      const tally = await ask(smsc, 'kannel');
      if (tally && tally.count >= total) return { count: tally.count, rate: (tally.count - 1) / ((tally.lastAt - tally.firstAt) / 1000) };
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await kannel.stop();
    smsc?.kill();
  }
}
