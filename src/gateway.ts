import type { Config } from './config.js';
import { buildApp } from './http/app.js';
import { createServices, startWorkers, stopWorkers } from './services/container.js';

/** The API process: the services, the HTTP app over them, and (with RUN_WORKER) the background loops. */
export async function createGateway(config: Config) {
  const services = await createServices(config);
  const app = await buildApp(services);
  return {
    app,
    services,
    async start() {
      for (const warning of services.startupWarnings) app.log.warn(warning);
      if (config.runWorker) startWorkers(services);
      await app.listen({ port: config.port, host: config.host });
    },
    async stop() {
      await app.close();
      await stopWorkers(services);
      await services.wakeUps.close();
      await services.sharedCounters.close();
      await services.store.close();
    },
  };
}
