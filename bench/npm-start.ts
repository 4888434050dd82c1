import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, openSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface StartedGateway {
  base: string;
  child: ChildProcess;
  dataDir: string;
  dbPath: string;
}

/**
 * The gateway as `npm start` runs it (`node --enable-source-maps dist/main.js`), on a fresh SQLite file in
 * `runDir`, from a copy of `root`'s dist/ (built first unless `noBuild`): a build in that checkout during the
 * run cannot change what is measured. `env` is added to a minimal environment (PATH, HOME, the port, the
 * database, warnings only in the log); resolves once `/health` answers.
 */
export async function startAsNpmStart(root: string, runDir: string, env: Record<string, string>, noBuild: boolean): Promise<StartedGateway> {
  if (!noBuild) execFileSync('npm', ['run', 'build:server'], { cwd: root, stdio: 'ignore' });
  const app = join(runDir, 'app');
  mkdirSync(app);
  cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true });
  for (const linked of ['node_modules', 'config', 'package.json']) symlinkSync(join(root, linked), join(app, linked));

  const dataDir = join(runDir, 'data');
  const dbPath = join(dataDir, 'gateway.db');
  const port = 18_000 + Math.floor(Math.random() * 2000);
  const log = join(runDir, 'gateway.log');
  const child = spawn(process.execPath, ['--enable-source-maps', 'dist/main.js'], {
    cwd: app,
    env: {
      PATH: process.env.PATH!, HOME: process.env.HOME!, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn',
      DATABASE_URL: `sqlite:${dbPath}`, ...env,
    },
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch { /* not yet */ }
    if (i > 300) throw new Error(`gateway did not start:\n${readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, child, dataDir, dbPath };
}
