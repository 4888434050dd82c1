import type { Fetch } from '../http-outcome.js';

/** The parts of the SDK's signed request this handler reads (`@smithy/core/transport` HttpRequest). */
export interface SignedRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | Array<string | null> | null>;
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

export interface RawResponse {
  statusCode: number;
  reason: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/**
 * The SDK's transport, replaced by the gateway's injected `fetch`: the caller's AbortSignal is the
 * only deadline (no SDK socket timeouts racing it), redirects are not followed, and a failed
 * request surfaces as the same fetch error every other provider's `transportOutcome` reads.
 * The SDK still serialises, signs (SigV4) and parses; this only moves bytes.
 */
export class FetchRequestHandler {
  constructor(private readonly fetchFn: Fetch) {}

  async handle(request: SignedRequest, options?: { abortSignal?: unknown }): Promise<{ response: RawResponse }> {
    const res = await this.fetchFn(requestUrl(request), {
      method: request.method,
      // Sent as signed: host and content-length are in the signature and fetch derives the same values.
      headers: request.headers,
      body: request.body,
      signal: options?.abortSignal as AbortSignal | undefined,
      redirect: 'manual',
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { response: { statusCode: res.status, reason: res.statusText, headers, body } };
  }

  // The SDK's handler contract; there is no client-side configuration to update or connection pool to close.
  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {}
}

function requestUrl(request: SignedRequest): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(request.query ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) query.append(name, v ?? '');
  }
  const search = query.size > 0 ? `?${query.toString().replace(/\+/g, '%20')}` : '';
  const port = request.port ? `:${request.port}` : '';
  return `${request.protocol}//${request.hostname}${port}${request.path}${search}`;
}
