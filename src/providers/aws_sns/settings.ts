import { ConfigError } from '../../config.js';
import type { EnvReader } from '../definition.js';

export interface AwsSnsSettings {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** `AWS_SNS_BASE_URL`; unset, the SDK picks the Region's own endpoint (`https://sns.{region}.amazonaws.com`, `.com.cn` in China). */
  endpoint: string | undefined;
  /** `AWS.SNS.SMS.SenderID` for messages that name no sender of their own. */
  senderId: string | undefined;
  /** `AWS.SNS.SMS.MaxPrice` in USD, kept as written: SNS takes it as a decimal string. */
  maxPriceUsd: string | undefined;
}

// https://docs.aws.amazon.com/sns/latest/dg/sms_publish-to-phone.html: "3–11 alphanumeric characters,
// including at least one letter and no spaces".
const SENDER_ID = /^(?=.*[A-Za-z])[A-Za-z0-9]{3,11}$/;
// SNS Number attributes keep 5 digits after the point (sns-message-attributes.html).
const PRICE = /^\d{1,6}(\.\d{1,5})?$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** Undefined (provider disabled) unless both credentials are set; only static keys, never the machine's credential chain. */
export function readAwsSnsSettings(env: EnvReader): AwsSnsSettings | undefined {
  const accessKeyId = env.str('AWS_ACCESS_KEY_ID');
  const secretAccessKey = env.str('AWS_SECRET_ACCESS_KEY');
  if (accessKeyId === undefined || secretAccessKey === undefined) return undefined;

  const region = env.str('AWS_REGION') ?? 'us-east-1';
  if (!REGION.test(region)) throw new ConfigError('AWS_REGION', `must be an AWS Region such as us-east-1, got "${region}"`);

  const senderId = env.str('AWS_SNS_SENDER_ID');
  if (senderId !== undefined && !SENDER_ID.test(senderId)) {
    throw new ConfigError('AWS_SNS_SENDER_ID', `must be 3-11 letters or digits with at least one letter, got "${senderId}"`);
  }
  const maxPriceUsd = env.str('AWS_SNS_MAX_PRICE');
  if (maxPriceUsd !== undefined && (!PRICE.test(maxPriceUsd) || Number(maxPriceUsd) <= 0)) {
    throw new ConfigError('AWS_SNS_MAX_PRICE', `must be a price in USD above 0 with at most 5 decimals, such as 0.05, got "${maxPriceUsd}"`);
  }
  const endpoint = env.str('AWS_SNS_BASE_URL') === undefined ? undefined : env.url('AWS_SNS_BASE_URL', '');
  return { accessKeyId, secretAccessKey, region, endpoint, senderId, maxPriceUsd };
}
