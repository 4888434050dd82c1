import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../config.js';
import { processLog } from '../logging.js';
import { closeServices, createServices, startWorkers, stopWorkers } from '../services/container.js';
import { providerHealth } from '../services/provider-health.js';
import type { FromDispatchThread, ToDispatchThread } from './messages.js';

/**
 * The dispatch thread (DispatchThread starts it): the services built again on this thread, over
 * their own database connection, running the dispatch, callback and report loops as
 * `npm run worker` does, while the API keeps the main thread.
 */
const port = parentPort!;
const post = (message: FromDispatchThread) => port.postMessage(message);

try {
  const { env, writeTurn } = workerData as { env: Record<string, string | undefined>; writeTurn?: SharedArrayBuffer };
  const services = await createServices(loadConfig(env), writeTurn && { buffer: writeTurn, party: 2 });
  startWorkers(services);
  port.on('message', (message: ToDispatchThread) => {
    switch (message.type) {
      case 'stop':
        stopWorkers(services)
          .then(async (inTime) => {
            await closeServices(services);
            post({ type: 'stopped', inTime });
          })
          .catch((err) => {
            processLog.error('dispatch thread: stopping failed', err);
            post({ type: 'stopped', inTime: false });
          })
          .finally(() => port.close());
        break;
      case 'metrics':
        services.metrics.registry.getMetricsAsJSON().then((metrics) => post({ type: 'metrics', id: message.id, metrics }));
        break;
      case 'providers':
        post({ type: 'providers', id: message.id, providers: providerHealth(services.router) });
        break;
    }
  });
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'failed', message: (err as Error).message });
  port.close();
}
