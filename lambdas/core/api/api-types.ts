/** The API's own request/answer types, independent of API Gateway's event shape (the handler converts). */

export interface ApiRequest {
  readonly method: string;
  /** The resource path without stage or prefix, still percent-encoded: `/images/img-1/files`. */
  readonly path: string;
  /** Query parameters; a name given twice has two values. */
  readonly query: Readonly<Record<string, readonly string[]>>;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | null;
  /** Who is calling (the IAM ARN API Gateway authorised), for audit and the backup trigger. */
  readonly principal?: string;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Serialised as JSON. */
  readonly body: unknown;
}
