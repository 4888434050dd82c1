import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(import.meta.dirname, '..', 'src');

/** Every module a file reaches through its static and dynamic imports: project files by path, packages by name. */
function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s+(?!type\b)[^'";]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        if (existsSync(target)) visit(target);
      } else {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
  };
  visit(join(src, entry));
  return { files, packages };
}

describe('module boundaries', () => {
  it('`npm run worker` loads no HTTP code', () => {
    const { files, packages } = reachable('worker-main.ts');
    expect([...files].filter((f) => f.includes(`${join('src', 'http')}`))).toEqual([]);
    expect([...packages].filter((p) => p === 'fastify' || p.startsWith('@fastify/'))).toEqual([]);
    // It does reach the dispatcher and the services: the check walks the real graph.
    expect([...files].some((f) => f.endsWith(join('src', 'worker.ts')))).toBe(true);
  });

  it('services, store, domain and providers never import the HTTP layer', () => {
    for (const entry of ['services/container.ts']) {
      const { files } = reachable(entry);
      expect([...files].filter((f) => f.includes(join('src', 'http')))).toEqual([]);
    }
  });
});
