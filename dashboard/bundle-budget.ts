import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

interface ChunkLike {
  type: 'chunk';
  isEntry: boolean;
  code: string;
  imports: string[];
  viteMetadata?: { importedCss: Set<string> };
}
interface AssetLike {
  type: 'asset';
  source: string | Uint8Array;
}

/**
 * Fails the build when what the first page loads (index.html, the entry chunk, every chunk it
 * imports statically and their CSS; not the pages loaded on demand) is above `maxGzipBytes`.
 */
export function bundleBudget(maxGzipBytes: number): Plugin {
  return {
    name: 'bundle-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = bundle as unknown as Record<string, ChunkLike | AssetLike>;
      const firstPage = new Set<string>(['index.html']);
      const visit = (name: string) => {
        const chunk = files[name];
        if (!chunk || chunk.type !== 'chunk' || firstPage.has(name)) return;
        firstPage.add(name);
        for (const css of chunk.viteMetadata?.importedCss ?? []) firstPage.add(css);
        chunk.imports.forEach(visit);
      };
      for (const [name, file] of Object.entries(files)) if (file.type === 'chunk' && file.isEntry) visit(name);
      let total = 0;
      const lines: string[] = [];
      for (const name of firstPage) {
        const file = files[name];
        if (!file) continue;
        const bytes = gzipSync(file.type === 'chunk' ? file.code : file.source, { level: 9 }).length;
        total += bytes;
        lines.push(`  ${name}: ${(bytes / 1024).toFixed(1)} KB gzipped`);
      }
      const summary = `first page: ${(total / 1024).toFixed(1)} KB gzipped (budget ${(maxGzipBytes / 1024).toFixed(0)} KB)\n${lines.join('\n')}`;
      if (total > maxGzipBytes) this.error(`bundle budget exceeded: ${summary}`);
      this.info(summary);
    },
  };
}
