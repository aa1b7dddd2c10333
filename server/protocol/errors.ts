// The one error type the protocol layer throws. `code` says what kind of
// violation it was so callers can map it (e.g. to M_BAD_JSON / M_TOO_LARGE, or
// to "drop the PDU") without parsing messages.

/**
 * Codes used by this layer. Other modules may add their own, so the field is a
 * plain string; this list documents the common ones.
 * - bad_json: not valid (canonical) JSON, or a value canonical JSON cannot encode
 * - too_large: a size limit from the spec is exceeded
 * - bad_signature / bad_hash: a signature or content hash is missing or wrong
 * - bad_format: the value does not have the shape the spec requires
 * - bad_id: an identifier does not match its grammar
 * - bad_base64: text is not valid Base64
 */
export type KnownProtocolErrorCode =
  | "bad_json"
  | "too_large"
  | "bad_signature"
  | "bad_hash"
  | "bad_format"
  | "bad_id"
  | "bad_base64";

export class ProtocolError extends Error {
  readonly code: string;

  constructor(code: KnownProtocolErrorCode | (string & {}), message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProtocolError";
    this.code = code;
  }
}
