// What can go wrong delivering to a receiver. Each is a retryable failure of
// one attempt; the messages are written for the operator reading the log.
export class ForwardError extends Error {
  override name = 'ForwardError';
  /** Already logged as an error (where it happened): whoever else meets it logs it at debug. */
  logged = false;
}

/** TCP connect or TLS failed (refused, timed out, certificate not trusted...). */
export class ConnectError extends ForwardError {
  override name = 'ConnectError';
}

/** The receiver refused our credentials (Shared_Key, Username/Password). */
export class AuthError extends ForwardError {
  override name = 'AuthError';
}

/** The receiver broke the protocol (unexpected message, bad handshake). */
export class ProtocolError extends ForwardError {
  override name = 'ProtocolError';
}

/** The connection closed (or was closed) before a batch was written or acked. */
export class ConnectionLostError extends ForwardError {
  override name = 'ConnectionLostError';
}

/** No ack for a batch within ack_response_timeout. */
export class AckTimeoutError extends ForwardError {
  override name = 'AckTimeoutError';
}
