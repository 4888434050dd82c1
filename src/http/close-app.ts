import type { FastifyInstance } from 'fastify';

/**
 * Stops taking requests and answers those in progress, within `deadlineMs`. Node closes the
 * connections that are idle when closing begins; one that is busy then stays open after its reply
 * until the client or the keep-alive timeout (72 s in Fastify) ends it, and the close waits for it:
 * a SIGTERM under load took 70 s. So idle connections are closed as they become idle, and what is
 * still open at the deadline is cut.
 */
export async function closeApp(app: FastifyInstance, deadlineMs: number): Promise<void> {
  const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
  const deadline = setTimeout(() => app.server.closeAllConnections(), deadlineMs);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
    clearTimeout(deadline);
  }
}
