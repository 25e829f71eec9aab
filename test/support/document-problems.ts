/** The refusal of a plan or workflow document: the DocumentValidationError its parser throws. */
import { expect } from 'vitest';
import { DocumentValidationError } from '../../lambdas/core/errors.ts';

/** Parses `raw` with `parse`, expects a DocumentValidationError and returns it (fails if accepted). */
export function refusalOf(parse: (raw: unknown) => unknown, raw: unknown): DocumentValidationError {
  try {
    parse(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(DocumentValidationError);
    return error as DocumentValidationError;
  }
  throw new Error('the document was accepted');
}
