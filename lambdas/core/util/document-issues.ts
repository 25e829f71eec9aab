/** zod issues as DocumentIssue rows: one wording for every document the API accepts. */
import type { z } from 'zod';
import type { DocumentIssue } from '../errors.ts';

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) return 'is required';
  return issue.message;
}

/** Every problem of a zod error as `{field, message}`, in the order zod found them; `root` names the whole. */
export function documentIssuesOf(error: z.ZodError, root: string): DocumentIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.length === 0 ? root : issue.path.map(String).join('.'),
    message: issueMessage(issue),
  }));
}

/** `prefix: field: message; field: message`, the one-line form of a list of issues. */
export function issuesSentence(prefix: string, issues: readonly DocumentIssue[]): string {
  return `${prefix}: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`;
}
