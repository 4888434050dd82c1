import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendProblem } from '../problem.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};
/** Text compresses; images and fonts already are. */
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.map', '.txt']);
/** Vite names every file under assets/ after a hash of its content: a new build is a new name. */
const HASHED_PREFIX = 'assets/';

interface StaticFile {
  body: Buffer;
  gzipped?: Buffer;
  contentType: string;
  etag: string;
  cacheControl: string;
}

/** The package root: the nearest folder above this file with a package.json (the same from src/ or a compiled copy). */
function packageRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const DEFAULT_DASHBOARD_DIR = join(packageRoot(), 'dashboard', 'dist');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path) : [path];
  });
}

/** Every built file, read once: the build is small (a budget keeps it so) and never changes under a running gateway. */
function loadBuild(dir: string): Map<string, StaticFile> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map<string, StaticFile>();
  for (const path of listFiles(dir)) {
    if (!statSync(path).isFile()) continue;
    const name = relative(dir, path).split(sep).join('/');
    const ext = extname(name).toLowerCase();
    const body = readFileSync(path);
    files.set(name, {
      body,
      gzipped: COMPRESSIBLE.has(ext) && body.length > 1024 ? gzipSync(body, { level: 9 }) : undefined,
      contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      // index.html names the current assets: it must be revalidated, the assets never change.
      cacheControl: name.startsWith(HASHED_PREFIX) ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
  }
  return files;
}

function sendFile(request: FastifyRequest, reply: FastifyReply, file: StaticFile) {
  reply.header('cache-control', file.cacheControl).header('etag', file.etag).header('vary', 'accept-encoding').type(file.contentType);
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  const acceptsGzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  if (file.gzipped && acceptsGzip) return reply.header('content-encoding', 'gzip').send(file.gzipped);
  return reply.send(file.body);
}

/**
 * The dashboard (dashboard/, built by `npm run build:dashboard`) at `/dashboard`: its files, and
 * index.html for every other `/dashboard/...` path, since the pages are routed in the browser
 * and each must load from its own URL. A missing asset is a 404, never index.html: a browser
 * would otherwise run HTML as a script.
 */
export async function dashboardRoutes(app: FastifyInstance, options: { dir?: string }) {
  const dir = options.dir ?? DEFAULT_DASHBOARD_DIR;
  const files = loadBuild(dir);
  const index = files?.get('index.html');
  const schema = { hide: true };

  const serve = async (request: FastifyRequest, reply: FastifyReply, path: string) => {
    if (!files || !index) {
      // 404, not 5xx: the gateway works; this optional part of it was not built.
      return sendProblem(reply, 404, 'Dashboard not built', `no dashboard build in ${dir}: run \`npm run build:dashboard\` (npm ci runs it) and restart`);
    }
    const file = files.get(path);
    if (file) return sendFile(request, reply, file);
    if (path.startsWith(HASHED_PREFIX) || extname(path) !== '') return sendProblem(reply, 404, 'Not found', `no dashboard file ${path}`);
    return sendFile(request, reply, index);
  };

  app.get('/dashboard', { schema }, (request, reply) => serve(request, reply, 'index.html'));
  app.get('/dashboard/*', { schema }, (request, reply) => serve(request, reply, (request.params as { '*': string })['*']));
}
