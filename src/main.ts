import { exitOnConfigError, loadConfig } from './config.js';
import { createGateway } from './gateway.js';
import { processLog } from './logging.js';

const gateway = await exitOnConfigError(() => createGateway(loadConfig()));
await gateway.start();

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    gateway.app.log.info(`${signal}: finishing in-flight work`);
    gateway.stop().then(() => process.exit(0), (err) => {
      processLog.error('stopping failed', err);
      process.exit(1);
    });
  });
}
