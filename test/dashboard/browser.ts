import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** Screenshots are kept here (gitignored) for a person to look at after the run. */
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'dashboard');

function newestChange(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the dashboard when there is no build, or when its sources or the API changed since the last one. */
export function ensureDashboardBuilt(): void {
  const index = join(ROOT, 'dashboard', 'dist', 'index.html');
  const sources = Math.max(newestChange(join(ROOT, 'dashboard', 'src')), newestChange(join(ROOT, 'src', 'http')));
  if (existsSync(index) && statSync(index).mtimeMs > sources) return;
  // vitest sets NODE_ENV=test, under which Vite would bundle React's development build: test what ships.
  execFileSync('npm', ['run', 'build:dashboard'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_ENV: 'production' } });
}

/**
 * Debian's Chromium, headless, with nothing that would reach out to the network on its own (this
 * network refuses such connections). Playwright gives every launch a fresh profile directory.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
