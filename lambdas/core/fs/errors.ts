/**
 * Errors of the filesystem readers. Everything read from a volume image is untrusted (a guest can
 * write any bytes), so a structure that does not make sense is a `FilesystemCorruptError` for the
 * file or directory that holds it, never a crash. Errors from the underlying ByteRangeReader (S3,
 * throttling) are NOT wrapped: they keep their own class and `retryable` flag, so a transient read
 * failure is retried by the caller instead of being recorded as damage in the image.
 */
import { PermanentError } from '../errors.ts';
import type { ErrorContext } from '../errors.ts';

/** A structure in the image is invalid: bad magic, bad checksum, out-of-range block, loop. */
export class FilesystemCorruptError extends PermanentError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super(message, { context, cause });
  }
}

/** The image uses a feature this reader does not implement (an unknown INCOMPAT feature). */
export class UnsupportedFilesystemError extends PermanentError {
  constructor(message: string, context: ErrorContext = {}) {
    super(message, { context });
  }
}

/** A named safety limit (see ext4/limits.ts) was reached: the input is hostile or absurd. */
export class FilesystemLimitError extends PermanentError {
  constructor(message: string, context: ErrorContext = {}) {
    super(message, { context });
  }
}

/** A path or inode that does not exist in the filesystem. */
export class FileNotFoundInImageError extends PermanentError {
  constructor(message: string, context: ErrorContext = {}) {
    super(message, { context });
  }
}
