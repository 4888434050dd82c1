import { createHmac, timingSafeEqual } from 'node:crypto';

/** `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`: the timestamp in the MAC lets receivers refuse replays. */
export function signCallback(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`, as inbound delivery reports carry it. */
export function bodySignature(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
