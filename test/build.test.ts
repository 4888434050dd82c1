import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onPostgres } from './helpers/database.js';
import { exited, freePort, waitForHealth } from './helpers/process.js';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'smsgw-dist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// `npm ci` compiled src/ into dist/ (the `prepare` step); `npm start` runs it with plain node.
describe.skipIf(onPostgres)('the compiled gateway (`npm start`)', () => {
  it('dist/main.js starts with node alone, sends through the simulator and stops on SIGTERM', async () => {
    expect(existsSync(join(root, 'dist', 'main.js')), 'dist/ is missing: run `npm run build` (npm ci does)').toBe(true);
    const port = await freePort();
    const child = spawn(process.execPath, [join(root, 'dist', 'main.js')], {
      cwd: root,
      env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'error', DATABASE_URL: `sqlite:${join(dir, 'gateway.db')}`, SIMULATOR_DELIVERY_DELAY_MS: '0' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      await waitForHealth(port);
      const base = `http://127.0.0.1:${port}`;
      const sent = await fetch(`${base}/api/sms/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: [{ number: '+14155550199' }], message: 'from dist' }) });
      expect(sent.status).toBe(200);
      const { messages } = await sent.json();
      let status = '';
      for (let i = 0; i < 50 && status !== 'delivered'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        status = (await (await fetch(`${base}/api/sms/${messages[0].id}`)).json()).status;
      }
      expect(status).toBe('delivered');
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
    expect(child.exitCode).toBe(0);
  }, 60_000);
});
