import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { NotFoundError } from '../../domain/errors.js';
import type { Services } from '../../services/container.js';
import { webhookRequest } from '../webhook-request.js';
import { BODY_LIMITS } from '../body-limits.js';
import { problems, ProviderReportsReply, WITH_BODY } from '../reply-schemas.js';
import { IdParams } from '../schemas.js';

/** Provider-native delivery reports, each verified by its provider's own signature scheme. */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const handler = async (request: any) => {
    const provider = services.router.get(request.params.provider);
    // A provider without credentials takes no reports: nothing of ours can have gone through it.
    if (!provider) throw new NotFoundError('enabled provider', request.params.provider);
    const reports = provider.parseWebhook(webhookRequest(request, services.config.publicUrl));
    const outcomes = await services.status.applyProviderReports(provider.name, reports);
    return { received: reports.length, applied: outcomes.filter((o) => o.applied).length, results: outcomes };
  };
  const options = {
    schema: {
      tags: ['webhooks'], summary: "Delivery reports in a provider's own format", params: IdParams('provider'),
      // Never rate limited and open without a key: 401 is a provider signature that does not match.
      response: { 200: ProviderReportsReply, ...problems(...WITH_BODY, 401, 404) },
    },
    config: { providerWebhook: true },
    bodyLimit: BODY_LIMITS.webhook,
  };
  app.post('/api/webhooks/:provider', options, handler);
  // Vonage can send its receipts as GET.
  app.get('/api/webhooks/:provider', options, handler);
};
