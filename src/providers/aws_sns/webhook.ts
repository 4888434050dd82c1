import { ValidationError } from '../../domain/errors.js';
import type { StatusReport, WebhookRequest } from '../provider.js';

/**
 * SNS posts nothing per SMS: delivery status goes only to CloudWatch Logs (the account's
 * `DeliveryStatusIAMRole` SMS attribute), so there is no report format to verify or map. Anything
 * posted to /api/webhooks/aws_sns is refused and changes nothing; no status is ever derived from it.
 */
export function parseAwsSnsWebhook(_request: WebhookRequest): StatusReport[] {
  throw new ValidationError(
    'aws_sns posts no delivery reports; wire SNS SMS delivery-status logging (CloudWatch Logs) if you need them',
    [{ field: 'body', message: 'Amazon SNS sends no per-message SMS delivery callbacks' }],
  );
}
