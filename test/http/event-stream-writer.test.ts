import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EventStreamWriter, frame } from '../../src/http/event-stream-writer.js';

/** A client's connection that takes nothing until `release` is called. */
function stalledClient() {
  const taken: string[] = [];
  const held: Array<() => void> = [];
  let flowing = false;
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, done) {
      taken.push(chunk.toString());
      if (flowing) done();
      else held.push(done);
    },
  });
  return {
    out, taken,
    release() {
      flowing = true;
      for (const done of held.splice(0)) done();
    },
  };
}

const status = (i: number) => frame('status', { message_id: `msg_${i}`, status: 'delivered', padding: 'x'.repeat(150) }, `evt_${i}`);

describe('EventStreamWriter', () => {
  it('holds at most its limit for a client that stopped reading, then sends resync once it caught up, and goes on', async () => {
    const client = stalledClient();
    const writer = new EventStreamWriter(client.out, 8 * 1024);
    for (let i = 0; i < 1000; i++) writer.send(status(i));
    // ~200 kB sent to a client that took nothing: the stream holds its limit and one event more, not all of it.
    expect(client.out.writableLength).toBeGreaterThanOrEqual(8 * 1024);
    expect(client.out.writableLength).toBeLessThan(8 * 1024 + 300);
    client.release();
    await new Promise((r) => setImmediate(r));
    writer.send(status(1000));
    const text = client.taken.join('');
    const events = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    const written = events.indexOf('resync');
    // What was written (up to the limit), then resync (what was skipped must be reloaded), then the stream goes on.
    expect(written).toBeGreaterThan(30);
    expect(written).toBeLessThan(60);
    expect(events).toEqual([...Array(written).fill('status'), 'resync', 'status']);
    expect(text.endsWith(status(1000))).toBe(true);
  });

  it('writes everything to a client that keeps up', async () => {
    const client = stalledClient();
    client.release();
    const writer = new EventStreamWriter(client.out, 8 * 1024);
    for (let i = 0; i < 1000; i++) {
      writer.send(status(i));
      if (client.out.writableLength > 0) await new Promise((r) => setImmediate(r));
    }
    expect(client.taken.join('')).toBe(Array.from({ length: 1000 }, (_, i) => status(i)).join(''));
  });

  it('writes nothing after the stream ended (a write after end would be an error event on the response)', async () => {
    const client = stalledClient();
    client.release();
    const writer = new EventStreamWriter(client.out);
    const errors: unknown[] = [];
    client.out.on('error', (err) => errors.push(err));
    client.out.end();
    writer.send(status(0));
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual([]);
    expect(client.taken).toEqual([]);
  });

  it('closes the stream of a client that stays behind, taking nothing, for its limit', async () => {
    const client = stalledClient();
    const writer = new EventStreamWriter(client.out, 4 * 1024, 50);
    for (let i = 0; i < 100; i++) writer.send(status(i));
    expect(client.out.destroyed).toBe(false);
    await new Promise((r) => setTimeout(r, 120));
    expect(client.out.destroyed).toBe(true);
    expect(() => writer.send(status(100))).not.toThrow();
  });

  it('a client that catches up in time is not closed', async () => {
    const client = stalledClient();
    const writer = new EventStreamWriter(client.out, 4 * 1024, 80);
    for (let i = 0; i < 100; i++) writer.send(status(i));
    client.release();
    await new Promise((r) => setTimeout(r, 150));
    expect(client.out.destroyed).toBe(false);
    expect(client.taken.join('')).toContain('event: resync');
  });

  it('over real HTTP: a response to a client that does not read stays bounded, and the client gets resync when it reads again', async () => {
    let response!: ServerResponse;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      response = res;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await new Promise<IncomingMessage>((r) => get({ port, host: '127.0.0.1', path: '/' }, r));
      res.pause();
      await new Promise((r) => setTimeout(r, 20));
      const limit = 64 * 1024;
      const writer = new EventStreamWriter(response, limit);
      // The kernel's socket buffers take the first megabytes; then the response holds the rest, up to the limit.
      let sent = 0;
      while (response.writableLength < limit && sent < 200_000) writer.send(status(sent++));
      expect(response.writableLength).toBeGreaterThanOrEqual(limit);
      for (let i = 0; i < 5000; i++) writer.send(status(sent + i));
      expect(response.writableLength).toBeLessThan(limit + 300);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.resume();
      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error('no resync arrived')), 10_000);
        const check = setInterval(() => {
          if (text.includes('event: resync')) {
            clearInterval(check);
            clearTimeout(deadline);
            resolve();
          }
        }, 5);
      });
      // Every event written before it arrived whole, in order, and none of those skipped.
      const ids = [...text.matchAll(/^id: evt_(\d+)$/gm)].map((m) => Number(m[1]));
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i));
      expect(ids.length).toBeLessThanOrEqual(sent);
      response.end();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
