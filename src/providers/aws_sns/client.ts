import { PublishCommand, SNSClient, type MessageAttributeValue } from '@aws-sdk/client-sns';
import type { SmsType } from '../../domain/message-status.js';
import type { Fetch } from '../http-outcome.js';
import type { OutgoingSms, ProviderCapabilities, SendOutcome, SmsProvider, StatusReport, WebhookRequest } from '../provider.js';
import { FetchRequestHandler } from './fetch-request-handler.js';
import { publishErrorOutcome } from './publish-outcome.js';
import type { AwsSnsSettings } from './settings.js';
import { parseAwsSnsWebhook } from './webhook.js';

// https://docs.aws.amazon.com/sns/latest/dg/sms_publish-to-phone.html: SNS's own default is
// Promotional, so the type is always sent.
const SMS_TYPE: Record<SmsType, 'Transactional' | 'Promotional'> = {
  otp: 'Transactional',
  transactional: 'Transactional',
  alert: 'Transactional',
  promotional: 'Promotional',
  marketing: 'Promotional',
};

// A sender that is a number goes as the origination number ("5–14 numbers, optional leading +");
// anything else is an alphanumeric sender ID, which SNS validates itself.
const ORIGINATION_NUMBER = /^\+?\d{5,14}$/;

/**
 * Amazon SNS `Publish` straight to a phone number, through the official SDK (query protocol,
 * SigV4) over the injected fetch. SNS posts no per-message delivery report, so a message
 * accepted here stays `sent`.
 */
export class AwsSnsProvider implements SmsProvider {
  readonly name = 'aws_sns' as const;
  readonly capabilities: ProviderCapabilities = {
    // No message class or UDH in Publish: flash and binary cannot be carried.
    messageTypes: ['text', 'unicode'],
    deliveryReports: false,
    unicode: true,
    // 1,600 bytes per Publish, which SNS splits itself at word boundaries; 10 parts stay under it.
    maxParts: 10,
    maxConcurrency: 20,
    lookup: 'cannot: SNS has no message search; outcome stays unknown',
  };

  private readonly client: SNSClient;

  constructor(private readonly settings: AwsSnsSettings, fetchFn: Fetch) {
    this.client = new SNSClient({
      region: settings.region,
      endpoint: settings.endpoint,
      // Given explicitly, so the SDK never walks the machine's credential chain (files, SSO, IMDS).
      credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
      // One attempt: after a timeout the SDK would publish again and the recipient could get the text
      // twice. The dispatcher decides about retries from the outcome.
      maxAttempts: 1,
      retryMode: 'standard',
      requestHandler: new FetchRequestHandler(fetchFn),
      // Set here so none of them is read from AWS_* variables or ~/.aws/config.
      useFipsEndpoint: false,
      useDualstackEndpoint: false,
      authSchemePreference: [],
      userAgentAppId: 'sms-gateway',
    });
  }

  async send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome> {
    if (sms.messageType !== 'text' && sms.messageType !== 'unicode') {
      return { kind: 'rejected', code: 'UNSUPPORTED', message: `SNS cannot send ${sms.messageType} messages` };
    }
    const command = new PublishCommand({ PhoneNumber: sms.to, Message: sms.body, MessageAttributes: this.attributes(sms) });
    let messageId: string | undefined;
    try {
      messageId = (await this.client.send(command, { abortSignal: signal })).MessageId;
    } catch (err) {
      return publishErrorOutcome(err);
    }
    if (!messageId) return { kind: 'unknown', code: 'PROVIDER_ERROR', message: 'SNS answered 2xx without a MessageId' };
    return { kind: 'accepted', providerMessageId: messageId };
  }

  parseWebhook(request: WebhookRequest): StatusReport[] {
    return parseAwsSnsWebhook(request);
  }

  private attributes(sms: OutgoingSms): Record<string, MessageAttributeValue> {
    const attributes: Record<string, MessageAttributeValue> = {
      'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: SMS_TYPE[sms.smsType] },
    };
    const sender = sms.from ?? this.settings.senderId;
    if (sender !== undefined && ORIGINATION_NUMBER.test(sender)) {
      attributes['AWS.MM.SMS.OriginationNumber'] = { DataType: 'String', StringValue: sender };
    } else if (sender !== undefined) {
      attributes['AWS.SNS.SMS.SenderID'] = { DataType: 'String', StringValue: sender };
    }
    if (this.settings.maxPriceUsd !== undefined) {
      attributes['AWS.SNS.SMS.MaxPrice'] = { DataType: 'Number', StringValue: this.settings.maxPriceUsd };
    }
    return attributes;
  }
}
