/** No response to a request before its timeout: the peer may or may not have acted on it. */
export class SmppTimeoutError extends Error {
  override readonly name = 'SmppTimeoutError';
}

/** The connection ended before the response came; `written` says whether the request had gone out. */
export class SmppClosedError extends Error {
  override readonly name = 'SmppClosedError';
  constructor(message: string, readonly written: boolean) {
    super(message);
  }
}

/** A bind the SMSC refused (credentials, system type) or did not answer. */
export class SmppBindError extends Error {
  override readonly name = 'SmppBindError';
  constructor(message: string, readonly commandStatus: number | undefined) {
    super(message);
  }
}
