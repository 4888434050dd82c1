import type { paths } from './openapi';

/*
 * The gateway's API, typed from its own /openapi.json (src/api/openapi.d.ts, generated at build):
 * a path, a query or a reply field the API does not have fails the dashboard's type check.
 */

type Method = 'get' | 'post' | 'put' | 'delete';
type Operation<P extends keyof paths, M extends Method> = paths[P][M];

type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : never;
export type Reply<P extends keyof paths, M extends Method = 'get'> = Operation<P, M> extends { responses: infer R }
  ? R extends { 200: infer Ok } ? JsonOf<Ok> : R extends { 201: infer Created } ? JsonOf<Created> : never
  : never;
export type Query<P extends keyof paths, M extends Method = 'get'> = Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
export type Body<P extends keyof paths, M extends Method> = Operation<P, M> extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
type PathParams<P extends keyof paths, M extends Method> = Operation<P, M> extends { parameters: { path: infer A } } ? A : never;

/** A problem+json answer (or no answer at all: status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: Array<{ field: string; message: string }> = [],
  ) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
  }
}

let currentKey: string | undefined;
let onUnauthorized: (() => void) | undefined;

/** The key every call carries; a 401 on any call ends the session (a revoked key). */
export function setCallKey(key: string | undefined, unauthorized?: () => void): void {
  currentKey = key;
  onUnauthorized = unauthorized;
}

export function authHeaders(key = currentKey): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}

function buildUrl(path: string, params: Record<string, string> | undefined, query: object | undefined): string {
  const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params?.[name] ?? ''));
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `${filled}?${text}` : filled;
}

interface CallOptions<P extends keyof paths, M extends Method> {
  params?: PathParams<P, M>;
  query?: Query<P, M>;
  body?: Body<P, M>;
  /** Another key than the session's (the login form checks a key before keeping it). */
  key?: string;
  signal?: AbortSignal;
}

export async function call<P extends keyof paths, M extends Method>(method: M, path: P, options: CallOptions<P, M> = {}): Promise<Reply<P, M>> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(options.key ?? currentKey) };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(buildUrl(path as string, options.params as Record<string, string> | undefined, options.query as object | undefined), {
      method: method.toUpperCase(),
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'Gateway unreachable', 'the request did not reach the gateway; check that it is running');
  }
  const text = await res.text();
  const json = text ? safeJson(text) : undefined;
  if (!res.ok) {
    if (res.status === 401 && options.key === undefined) onUnauthorized?.();
    const problem = (json ?? {}) as { title?: string; detail?: string; errors?: Array<{ field: string; message: string }> };
    throw new ApiError(res.status, problem.title ?? res.statusText, problem.detail ?? '', problem.errors ?? []);
  }
  return json as Reply<P, M>;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const api = {
  get: <P extends keyof paths>(path: P, options?: CallOptions<P, 'get'>) => call('get', path, options),
  post: <P extends keyof paths>(path: P, options?: CallOptions<P, 'post'>) => call('post', path, options),
  put: <P extends keyof paths>(path: P, options?: CallOptions<P, 'put'>) => call('put', path, options),
  delete: <P extends keyof paths>(path: P, options?: CallOptions<P, 'delete'>) => call('delete', path, options),
};

export type MessageItem = Reply<'/api/sms'>['items'][number];
export type MessageDetail = Reply<'/api/sms/{sms_id}'>;
export type Stats = Reply<'/api/analytics/stats'>;
export type ProviderItem = Reply<'/api/providers'>['items'][number];
export type Template = Reply<'/api/templates/{template_id}'>;
export type ApiKey = Reply<'/api/keys'>['items'][number];
export type Batch = Reply<'/api/sms/batches/{batch_id}'>;
export type Scope = Reply<'/api/keys/current'>['scopes'][number];
