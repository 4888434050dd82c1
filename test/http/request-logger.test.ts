import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { RequestLogger } from '../../src/http/request-logger.js';
import { createServices, stopWorkers } from '../../src/services/container.js';
import { dropDatabase } from '../helpers/database.js';
import { testEnv, US } from '../helpers/gateway.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('RequestLogger', () => {
  it('makes its child on the first line at an enabled level, with the bindings and options it was given', () => {
    const { logger, lines } = capture();
    const child = vi.spyOn(logger, 'child');
    const log = new RequestLogger(logger, { reqId: 'req-1' }, { level: 'warn' });
    expect(log.level).toBe('warn');
    log.info('below the level');
    log.debug('below the level');
    log.silent('never');
    expect(child).not.toHaveBeenCalled();

    log.warn({ n: 1 }, 'kept');
    log.error('also kept');
    expect(child).toHaveBeenCalledTimes(1);
    expect(child).toHaveBeenCalledWith({ reqId: 'req-1' }, { level: 'warn' });
    expect(lines.map((l) => [l.reqId, l.msg, l.n])).toEqual([['req-1', 'kept', 1], ['req-1', 'also kept', undefined]]);

    log.info('below the level, the child there now');
    expect(lines).toHaveLength(2);
    log.level = 'info';
    log.info('now kept');
    log.child({ step: 'two' }).info('grandchild');
    expect(lines.slice(2).map((l) => [l.reqId, l.step, l.msg])).toEqual([['req-1', undefined, 'now kept'], ['req-1', 'two', 'grandchild']]);
  });

  it('takes the parent\'s level when the route sets none, and a silent one writes nothing', () => {
    const { logger, lines } = capture();
    const child = vi.spyOn(logger, 'child');
    const inherited = new RequestLogger(logger, { reqId: 'req-2' }, {});
    expect(inherited.level).toBe('info');
    inherited.debug('below');
    expect(child).not.toHaveBeenCalled();
    inherited.info('kept');
    expect(lines.map((l) => [l.reqId, l.msg])).toEqual([['req-2', 'kept']]);

    const silent = new RequestLogger(logger, { reqId: 'req-3' }, { level: 'silent' });
    silent.fatal('not even this');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines).toHaveLength(1);
  });
});

describe('request.log in the gateway', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('costs no pino child for a request that logs nothing, and still names the request when one fails', async () => {
    const env = await testEnv({ LOG_LEVEL: 'info' });
    const services = await createServices(loadConfig(env));
    const lines: Array<Record<string, unknown>> = [];
    const app = await buildApp(services, { logStream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
    stop = async () => {
      await app.close();
      await stopWorkers(services);
      await services.store.close();
      await dropDatabase(env.DATABASE_URL);
    };
    app.get('/test/fails', async () => {
      throw new Error('broken on purpose');
    });
    const child = vi.spyOn(app.log, 'child');

    const sent = await app.inject({ method: 'POST', url: '/api/sms/send', payload: { to: [{ number: US }], message: 'hello' } });
    expect(sent.statusCode).toBe(200);
    const refused = await app.inject({ method: 'POST', url: '/api/sms/send', payload: { to: [{ number: 'nope' }], message: 'hello' } });
    expect(refused.statusCode).toBe(422);
    expect(child).not.toHaveBeenCalled();

    const failed = await app.inject({ method: 'GET', url: '/test/fails' });
    expect(failed.statusCode).toBe(500);
    expect(child).toHaveBeenCalledTimes(1);
    const line = lines.find((l) => l.msg === 'unhandled error');
    expect(line?.reqId).toEqual(expect.any(String));
    expect((line?.err as { message?: string } | undefined)?.message).toBe('broken on purpose');
  });
});
