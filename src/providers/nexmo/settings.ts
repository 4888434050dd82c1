import { ConfigError } from '../../config.js';
import type { EnvReader } from '../definition.js';
import { SIGNATURE_METHODS, type SignatureMethod } from './signature.js';

export interface NexmoSettings {
  apiKey: string;
  apiSecret: string;
  /** Default sender; `OutgoingSms.from` overrides it. */
  phoneNumber: string | undefined;
  baseUrl: string;
  /** When set, every delivery receipt must carry a valid `sig`. */
  signatureSecret: string | undefined;
  signatureMethod: SignatureMethod;
}

export const NEXMO_REQUIRED_VARIABLES = ['NEXMO_API_KEY', 'NEXMO_API_SECRET'] as const;

/**
 * Every `NEXMO_*` variable has a `VONAGE_*` twin (the company renamed itself); when both are
 * set the `NEXMO_*` one wins.
 */
export function readNexmoSettings(env: EnvReader): NexmoSettings | undefined {
  const read = (suffix: string) => env.str(`NEXMO_${suffix}`) ?? env.str(`VONAGE_${suffix}`);
  const apiKey = read('API_KEY');
  const apiSecret = read('API_SECRET');
  if (!apiKey || !apiSecret) return undefined;
  const baseUrlVariable = env.str('NEXMO_BASE_URL') !== undefined ? 'NEXMO_BASE_URL' : 'VONAGE_BASE_URL';
  return {
    apiKey,
    apiSecret,
    phoneNumber: read('PHONE_NUMBER'),
    baseUrl: env.url(baseUrlVariable, 'https://rest.nexmo.com'),
    signatureSecret: read('SIGNATURE_SECRET'),
    signatureMethod: signatureMethod(env),
  };
}

function signatureMethod(env: EnvReader): SignatureMethod {
  const variable = env.str('NEXMO_SIGNATURE_METHOD') !== undefined ? 'NEXMO_SIGNATURE_METHOD' : 'VONAGE_SIGNATURE_METHOD';
  const value = env.str(variable)?.toLowerCase();
  if (value === undefined) return 'md5hash';
  if (!(SIGNATURE_METHODS as readonly string[]).includes(value)) {
    throw new ConfigError(variable, `must be one of ${SIGNATURE_METHODS.join(', ')}, got "${value}"`);
  }
  return value as SignatureMethod;
}
