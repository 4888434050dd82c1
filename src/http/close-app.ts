import type { FastifyInstance, FastifyRequest } from 'fastify';

interface Closing {
  stopping: boolean;
  /** Requests whose handlers have not yet replied (onRequest → onSend). */
  inProgress: number;
  /** Called when inProgress reaches 0. */
  onIdle?: () => void;
  /** Resolves at closeApp's deadline. */
  timeUp?: Promise<void>;
}

const states = new WeakMap<FastifyInstance, Closing>();
/** Per counted request, what ends its count (see trackForClose). */
const settlers = new WeakMap<FastifyRequest, () => void>();

/**
 * Makes `closeApp` work for `app`: call once, before routes are registered.
 *
 * While stopping, every reply says `Connection: close`, so Node ends its connection once the reply is
 * out. Without that, a keep-alive connection busy when stopping began stayed open after its reply
 * until the client or the keep-alive timeout (72 s in Fastify) ended it, and the close waited for it:
 * a SIGTERM under load took 70 s.
 *
 * Requests are counted from onRequest to onSend (which a handler reaches even when its client has hung
 * up; onResponse would not fire then). The close waits for them in a preClose hook, before the server
 * stops and before the onClose hooks (the audit log's last flush) run, so neither the database nor the
 * audit log is closed under a handler still running. So a handler must always reply: an async handler
 * that returns undefined after its client hung up would never reach onSend, and hold the stop until
 * the deadline.
 */
export function trackForClose(app: FastifyInstance): void {
  const state: Closing = { stopping: false, inProgress: 0 };
  states.set(app, state);
  const settle = () => {
    if (--state.inProgress === 0) state.onIdle?.();
  };
  app.addHook('onRequest', (request, _reply, done) => {
    settlers.set(request, settle);
    state.inProgress++;
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    if (state.stopping) reply.header('connection', 'close');
    replied(request);
    done(null, payload);
  });
  app.addHook('preClose', async () => {
    if (state.inProgress === 0) return;
    const idle = new Promise<void>((resolve) => { state.onIdle = resolve; });
    await (state.timeUp ? Promise.race([idle, state.timeUp]) : idle);
  });
}

/**
 * The handler of `request` is done: it replied (onSend), or it took the reply over (`reply.hijack()`, which
 * never reaches onSend; the event stream says so itself, and its stream is ended by its own preClose hook).
 * Counts once per counted request: an error reply after a failed send runs onSend again, and a reply to a
 * request refused before routing (a malformed URL) runs it without onRequest.
 */
export function replied(request: FastifyRequest): void {
  const settle = settlers.get(request);
  if (settle === undefined) return;
  settlers.delete(request);
  settle();
}

/**
 * Stops taking requests and lets those in progress reply, within `deadlineMs`; then cuts whatever
 * connection is still open. Resolves once the app is closed (its onClose hooks run even after a cut).
 */
export async function closeApp(app: FastifyInstance, deadlineMs: number): Promise<void> {
  const state = states.get(app);
  if (!state) throw new Error('closeApp needs trackForClose(app) when the app is built');
  state.stopping = true;
  let deadline: NodeJS.Timeout | undefined;
  state.timeUp = new Promise<void>((resolve) => {
    deadline = setTimeout(() => {
      app.server.closeAllConnections();
      resolve();
    }, deadlineMs);
  });
  try {
    await app.close();
  } finally {
    clearTimeout(deadline);
  }
}
