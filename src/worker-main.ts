import { exitOnConfigError, loadConfig } from './config.js';
import { closeServices, createServices, startWorkers, stopWorkers } from './services/container.js';
import { processLog } from './logging.js';

/** `npm run worker`: the dispatch, callback and simulator loops without the HTTP API. */
const services = await exitOnConfigError(() => createServices(loadConfig()));
for (const warning of services.startupWarnings) processLog.warn(`warning: ${warning}`);
startWorkers(services);
processLog.info(`worker started (${services.store.dialect}, providers: ${services.router.all().map((p) => p.name).join(', ')})`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopWorkers(services).then(() => closeServices(services)).then(() => process.exit(0), (err) => {
      processLog.error('stopping failed', err);
      process.exit(1);
    });
  });
}
