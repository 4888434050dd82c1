import type { Config } from './config.js';
import { buildApp } from './http/app.js';
import { closeApp } from './http/close-app.js';
import { DispatchThread } from './dispatch-thread/host.js';
import { closeServices, createServices, startWorkers, stopWorkers } from './services/container.js';
import { SmppServer } from './smpp-server/server.js';

/** The API process: the services, the HTTP app over them, and (with RUN_WORKER) the background loops. */
export async function createGateway(config: Config) {
  const services = await createServices(config);
  // This process judges OTP codes: it reads every process's pumping counts (workers do not).
  services.sharedPumping?.follow();
  const app = await buildApp(services);
  // ESMEs submit over SMPP beside the HTTP API, when SMPP_SERVER_PORT is set.
  const smppServer = config.smppServer ? new SmppServer(services, config.smppServer) : undefined;
  let dispatchThread: DispatchThread | undefined;
  return {
    app,
    services,
    smppServer,
    /** The running dispatch thread, if `start` made one. */
    dispatchThread: (): DispatchThread | undefined => dispatchThread,
    async start() {
      for (const warning of services.startupWarnings) app.log.warn(warning);
      if (config.runWorker && config.dispatchThread) {
        // Built here rather than at creation: a gateway made and never started (tests) starts no thread.
        dispatchThread = new DispatchThread(config.env, services.store.writeTurn?.buffer);
        const thread = dispatchThread;
        await thread.start();
        services.metrics.remote.push(() => thread.metrics());
        const ownHealth = services.providerHealth;
        services.providerHealth = async () => await thread.providerHealth() ?? ownHealth();
      } else if (config.runWorker) {
        startWorkers(services);
      }
      await smppServer?.start();
      await app.listen({ port: config.port, host: config.host });
    },
    async stop() {
      // Stop taking requests first (those in progress are answered), then finish in-flight sends.
      await smppServer?.stop();
      await closeApp(app, config.shutdownTimeoutSeconds * 1000);
      if (dispatchThread) await dispatchThread.stop();
      else await stopWorkers(services);
      await closeServices(services);
    },
  };
}
