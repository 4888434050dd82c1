import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../helpers/process.js';

/** What the Perl SMSC printed: one object per line. */
export type SmscEvent = { event: string } & Record<string, any>;

/** Whether Perl's Net::SMPP is installed; absent only on machines without libnet-smpp-perl (CI installs it). */
export function netSmppAvailable(): boolean {
  return spawnSync('perl', ['-MNet::SMPP', '-MEncode::GSM0338', '-e', '1']).status === 0;
}

export interface PerlSmsc {
  port: number;
  events: SmscEvent[];
  /** Resolves with the first event (already seen or still to come) the predicate accepts; rejects after `timeoutMs`. */
  waitFor(predicate: (e: SmscEvent) => boolean, timeoutMs?: number, what?: string): Promise<SmscEvent>;
  /** A line for the SMSC's stdin (see smsc.pl): `receipt ID STAT`, `mo ...`, `drop`. */
  command(line: string): void;
  stop(): Promise<void>;
}

/** Starts test/providers/smpp/smsc.pl on a free loopback port. */
export async function startPerlSmsc(systemId: string, password: string, options: string[] = []): Promise<PerlSmsc> {
  const port = await freePort();
  const child: ChildProcess = spawn('perl', [join(import.meta.dirname, 'smsc.pl'), String(port), systemId, password, ...options], { stdio: ['pipe', 'pipe', 'inherit'] });
  const events: SmscEvent[] = [];
  const waiters: Array<{ predicate: (e: SmscEvent) => boolean; resolve: (e: SmscEvent) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as SmscEvent;
    events.push(event);
    for (const w of [...waiters]) {
      if (w.predicate(event)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(event);
      }
    }
  });
  const smsc: PerlSmsc = {
    port,
    events,
    waitFor(predicate, timeoutMs = 10_000, what = 'an SMSC event') {
      const seen = events.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the SMSC never reported ${what}; it saw: ${JSON.stringify(events)}`)), timeoutMs);
        waiters.push({ predicate, resolve: (e) => { clearTimeout(timer); resolve(e); } });
      });
    },
    command(line) {
      child.stdin!.write(`${line}\n`);
    },
    stop() {
      if (child.exitCode !== null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        // Closing stdin ends the script; the kill is for one stuck in a read.
        child.stdin!.end();
        child.kill('SIGTERM');
      });
    },
  };
  await smsc.waitFor((e) => e.event === 'listening', 10_000, 'that it listens');
  return smsc;
}
