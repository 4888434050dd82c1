import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/process.js';

export const BEARERBOX = '/usr/sbin/bearerbox';
export const SMSBOX = '/usr/sbin/smsbox';

/** Whether Debian's kannel is installed (CI installs it). */
export function kannelAvailable(): boolean {
  return existsSync(BEARERBOX) && existsSync(SMSBOX);
}

export interface Kannel {
  /** Base of smsbox's sendsms interface. */
  sendsmsUrl: string;
  username: string;
  password: string;
  /** bearerbox's and smsbox's logs, for a failing test's message. */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Kannel's bearerbox and smsbox, with one `smsc = smpp` group binding (transceiver) to our SMPP
 * server, and a sendsms user that may split long texts (UDH concatenation).
 */
export async function startKannel(smppPort: number, systemId: string, smppPassword: string, options: { logLevel?: number } = {}): Promise<Kannel> {
  // 0 (debug) for tests, whose failures print the logs; a benchmark wants Kannel at its own speed.
  const logLevel = options.logLevel ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'kannel-'));
  const [adminPort, smsboxPort, sendsmsPort] = [await freePort(), await freePort(), await freePort()];
  const config = `
group = core
admin-port = ${adminPort}
admin-password = adminpw
admin-interface = 127.0.0.1
smsbox-port = ${smsboxPort}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "${dir}/bearerbox.log"
log-level = ${logLevel}
dlr-storage = internal
store-type = spool
store-location = "${dir}/spool"

group = smsc
smsc = smpp
smsc-id = gateway
host = 127.0.0.1
port = ${smppPort}
transceiver-mode = true
smsc-username = ${systemId}
smsc-password = ${smppPassword}
system-type = ""
source-addr-ton = 1
source-addr-npi = 1
dest-addr-ton = 1
dest-addr-npi = 1
enquire-link-interval = 30
reconnect-delay = 1
wait-ack = 60

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = ${smsboxPort}
sendsms-port = ${sendsmsPort}
sendsms-interface = 127.0.0.1
log-file = "${dir}/smsbox.log"
log-level = ${logLevel}
global-sender = 15550001111

group = sendsms-user
username = tester
password = testpw
max-messages = 10
concatenation = true
`;
  mkdirSync(join(dir, 'spool'));
  const configPath = join(dir, 'kannel.conf');
  writeFileSync(configPath, config);
  const children: ChildProcess[] = [];
  const output: string[] = [];
  const run = (binary: string) => {
    const child = spawn(binary, [configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => output.push(String(d)));
    child.stderr!.on('data', (d) => output.push(String(d)));
    children.push(child);
  };
  const kannel: Kannel = {
    sendsmsUrl: `http://127.0.0.1:${sendsmsPort}/cgi-bin/sendsms`,
    username: 'tester',
    password: 'testpw',
    logs: () => ['bearerbox.log', 'smsbox.log'].map((f) => {
      const path = join(dir, f);
      return existsSync(path) ? `--- ${f}\n${readFileSync(path, 'utf8').split('\n').slice(-60).join('\n')}` : '';
    }).join('\n') + output.join(''),
    async stop() {
      await Promise.all(children.map((child) => new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => { clearTimeout(force); resolve(); });
        child.kill('SIGTERM');
      })));
      if (!process.env.KEEP_KANNEL) rmSync(dir, { recursive: true, force: true });
    },
  };
  run(BEARERBOX);
  // smsbox connects to bearerbox's smsbox port: start it once that listens.
  await waitForPort(smsboxPort, kannel);
  run(SMSBOX);
  await waitForPort(sendsmsPort, kannel);
  return kannel;
}

async function waitForPort(port: number, kannel: Kannel): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Kannel did not listen on ${port}:\n${kannel.logs()}`);
}
