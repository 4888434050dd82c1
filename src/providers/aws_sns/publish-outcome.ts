import { httpErrorOutcome, transportOutcome } from '../http-outcome.js';
import type { SendOutcome } from '../provider.js';

/** What the SDK throws when SNS answered with an error: the parsed `<Error>` plus the HTTP status. */
interface ServiceError {
  name: string;
  message: string;
  /** SNS's own code as on the wire (`InvalidParameter`); `name` is the SDK's class name for it. */
  Code?: string;
  $fault: 'client' | 'server';
  $metadata: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string> };
}

// Codes from the Publish and Common Errors pages of the SNS API reference
// (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html, .../CommonErrors.html).
// `Throttled` is 429 but `Throttling`/`ThrottlingException` come as 400: the status alone would call them rejected.
const THROTTLED = new Set(['Throttled', 'Throttling', 'ThrottlingException', 'KMSThrottling', 'RequestLimitExceeded', 'TooManyRequestsException']);
// Our keys, signature, clock or permissions, not the message: another provider may carry it.
const AUTH = new Set([
  'AuthorizationError', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'IncompleteSignature', 'MissingAuthenticationToken',
  'InvalidSecurity', 'OptInRequired', 'RequestExpired', 'AccessDenied', 'AccessDeniedException', 'NotAuthorized', 'ExpiredToken',
  'UnrecognizedClientException',
]);
// The account's KMS key (encrypted topics): an account problem that says nothing about this message.
const KMS = new Set(['KMSAccessDenied', 'KMSDisabled', 'KMSInvalidState', 'KMSNotFound', 'KMSOptInRequired']);
const UNAVAILABLE = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable']);
const INVALID_PARAMETER = new Set(['InvalidParameter', 'ParameterValueInvalid', 'InvalidParameterValue']);

/** What a failed `client.send(PublishCommand)` means for the message. */
export function publishErrorOutcome(err: unknown): SendOutcome {
  if (isServiceError(err)) return serviceErrorOutcome(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  if (status !== undefined) {
    // SNS answered but the SDK could not read it (a 2xx that is not a PublishResponse): it may have taken the message.
    return { kind: 'unknown', code: 'PROVIDER_ERROR', message: `unreadable SNS answer (HTTP ${status}): ${(err as Error).message.slice(0, 200)}` };
  }
  return transportOutcome(err);
}

function serviceErrorOutcome(err: ServiceError): SendOutcome {
  const code = err.Code ?? err.name;
  const status = err.$metadata.httpStatusCode ?? (err.$fault === 'server' ? 500 : 400);
  const message = err.message || code;
  const detail = { message, providerErrorCode: code };
  if (THROTTLED.has(code)) return { kind: 'retry', code: 'PROVIDER_THROTTLED', ...detail };
  if (AUTH.has(code)) return { kind: 'retry', code: 'PROVIDER_AUTH', ...detail };
  if (KMS.has(code) || UNAVAILABLE.has(code)) return { kind: 'retry', code: 'PROVIDER_UNAVAILABLE', ...detail };
  // "Invalid parameter: PhoneNumber Reason: +1555… is not valid to publish to"
  if (INVALID_PARAMETER.has(code) && /phone ?number/i.test(message)) return { kind: 'rejected', code: 'INVALID_NUMBER', ...detail };
  // Not in Publish's documented errors (SNS accepts a publish to an opted-out number and logs the
  // failure later), but SNS has the code: should it ever come back, it is final for this recipient.
  if (code === 'OptedOut') return { kind: 'rejected', code: 'OPTED_OUT', ...detail };
  const headers = new Headers(err.$response?.headers ?? {});
  return httpErrorOutcome({ status, headers, text: message, json: undefined }, detail);
}

function isServiceError(err: unknown): err is ServiceError {
  const e = err as Partial<ServiceError> | undefined;
  return typeof e?.$fault === 'string' && typeof e.$metadata?.httpStatusCode === 'number' && typeof e.name === 'string';
}
