/**
 * autocannon against POST /api/sms/send (1 recipient) and /api/sms/send-batch (1,000 recipients)
 * on a gateway started as its own process. Afterwards the stored messages are counted in the
 * database: every 2xx must be a stored row. Usage: npm run bench [-- --duration 10 --connections 50 --worker]
 */
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { parseArgs } from 'node:util';
import { startServer } from './server.js';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' }, worker: { type: 'boolean', default: false } } });
const duration = Number(values.duration);
const connections = Number(values.connections);

// The batch phase sends 20 times to the same 1,000 numbers: the per-number cap stays on the path, out of the way.
const server = await startServer({ RUN_WORKER: values.worker ? 'true' : 'false', MAX_SMS_PER_NUMBER_PER_HOUR: '1000000' });
const body = JSON.stringify({ to: [{ number: '+14155552671' }], message: 'Your order #1234 has shipped and will arrive tomorrow.', sms_type: 'transactional' });
// Every request goes to another number (millions of them), so the phone-parse cache can't flatter the figure.
let n = 0;
const sendRequests = [{
  method: 'POST',
  setupRequest: (req: Record<string, unknown>) => ({
    ...req,
    body: JSON.stringify({ to: [{ number: `+1415${2_000_000 + ((n++ * 7919) % 7_999_999)}` }], message: 'Your order #1234 has shipped and will arrive tomorrow.', sms_type: 'transactional' }),
  }),
}];

// Warm-up: JIT, statement cache.
await autocannon({ url: `${server.base}/api/sms/send`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: 2 });

const single = await autocannon({ url: `${server.base}/api/sms/send`, method: 'POST', headers: { 'content-type': 'application/json' }, requests: sendRequests, connections, duration });
console.log(`send (1 recipient), ${connections} connections, ${duration} s:`);
console.log(`  requests/s avg ${single.requests.average}, latency p50 ${single.latency.p50} ms, p99 ${single.latency.p99} ms, max ${single.latency.max} ms`);
console.log(`  2xx ${single['2xx']}, non-2xx ${single.non2xx}, errors ${single.errors}, timeouts ${single.timeouts}`);

const recipients = Array.from({ length: 1000 }, (_, i) => ({ number: `+1415555${String(1000 + i).padStart(4, '0')}` }));
const batchBody = JSON.stringify({ name: 'bench', recipients, message: 'Special offer! Get 50% off today.', sms_type: 'promotional' });
const timings: number[] = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  const res = await fetch(`${server.base}/api/sms/send-batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: batchBody });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`batch answered ${res.status}`);
  timings.push(performance.now() - t);
}
timings.sort((a, b) => a - b);
console.log(`send-batch (1,000 recipients), sequential x20: median ${timings[10].toFixed(1)} ms, max ${timings[19].toFixed(1)} ms`);

await server.stop();
const db = new Database(server.dbPath, { readonly: true });
const stored = (db.prepare('select count(*) n from messages').get() as { n: number }).n;
db.close();
// Warm-up requests are stored too; compare against everything that answered 2xx.
console.log(`stored messages: ${stored} (bench 2xx ${single['2xx']} + 20 batches x 1,000 + warm-up)`);
