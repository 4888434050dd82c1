import { exitOnConfigError, loadConfig } from './config.js';
import { createServices, startWorkers, stopWorkers } from './gateway.js';

/** `npm run worker`: the dispatch, callback and simulator loops without the HTTP API. */
const services = await exitOnConfigError(() => createServices(loadConfig()));
for (const warning of services.startupWarnings) console.warn(`warning: ${warning}`);
startWorkers(services);
console.log(`worker started (${services.store.dialect}, providers: ${services.router.all().map((p) => p.name).join(', ')})`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopWorkers(services).then(() => services.store.close()).then(() => process.exit(0));
  });
}
