import { ConfigError, loadConfig } from './config.js';
import { createServices, startWorkers, stopWorkers } from './gateway.js';

/** `npm run worker`: the dispatch, callback and simulator loops without the HTTP API. */
let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(78);
  }
  throw err;
}
const services = await createServices(config);
startWorkers(services);
console.log(`worker started (${services.store.dialect}, providers: ${services.router.all().map((p) => p.name).join(', ')})`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopWorkers(services).then(() => services.store.close()).then(() => process.exit(0));
  });
}
