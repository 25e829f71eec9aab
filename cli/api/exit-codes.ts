/**
 * Exit codes of `rbp` (documented in docs/api.md, "CLI"). Scripts can tell "not there" from
 * "already running" from "the service is down" without parsing messages.
 */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** Anything else: a failure inside the CLI or the service (5xx). */
  FAILURE: 1,
  /** Wrong command line (unknown option, missing argument). */
  USAGE: 2,
  /** The volume, image, backup, restore or path does not exist (404). */
  NOT_FOUND: 3,
  /** Conflict: a backup of the volume is already running (409). */
  CONFLICT: 4,
  /** The API refused the request as invalid (400, 405, 413, 415). */
  INVALID_REQUEST: 5,
  /** Not authorised (403) or no credentials. */
  ACCESS_DENIED: 6,
  /** Throttled or unavailable (429, 503, network errors): retry later. */
  UNAVAILABLE: 7,
  /** A backup or restore waited for with --wait ended in failure. */
  JOB_FAILED: 8,
  /** --wait gave up after --timeout. */
  TIMED_OUT: 9,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the CLI with a specific exit code and message. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 409) return EXIT.CONFLICT;
  if (status === 403 || status === 401) return EXIT.ACCESS_DENIED;
  if (status === 429 || status === 503 || status === 502 || status === 504) return EXIT.UNAVAILABLE;
  if (status >= 400 && status < 500) return EXIT.INVALID_REQUEST;
  return EXIT.FAILURE;
}
