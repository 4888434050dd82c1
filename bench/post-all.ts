import autocannon from 'autocannon';

/**
 * POSTs each body once over 50 connections (autocannon `amount`), timed from the start to the last
 * response: autocannon itself notices the end of an `amount` run only on its 1 s tick.
 */
export async function postAll(base: string, path: string, bodies: string[]): Promise<{ started: number; last: number; ok: number; bad: number }> {
  let next = 0;
  let last = 0;
  const started = Date.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: `${base}${path}`, method: 'POST', headers: { 'content-type': 'application/json' }, connections: 50, amount: bodies.length,
      requests: [{ method: 'POST', setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length] }) }],
    }, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on('response', () => {
      last = Date.now();
    });
  });
  return { started, last, ok: result['2xx'], bad: result.non2xx + result.errors + result.timeouts };
}
