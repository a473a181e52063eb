/** Validation of custom-resource specs with readable, field-naming errors. */
import type { z } from 'zod';

/** A spec that failed validation; `issues` lists one `path: message` line per problem. */
export class ValidationError extends Error {
  readonly issues: string[];
  constructor(what: string, issues: string[]) {
    super(`invalid ${what}:\n  ${issues.join('\n  ')}`);
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

/** Formats zod issues as `spec.field.path: message` lines. */
export function formatIssues(error: z.ZodError, root: string): string[] {
  return error.issues.map((issue) => {
    const path = [root, ...issue.path.map(String)].filter(Boolean).join('.');
    return `${path}: ${issue.message}`;
  });
}

/**
 * Parses `input` with `schema`, filling defaults.
 * @throws ValidationError naming every offending field under `root` (e.g. `spec.replicas`).
 */
export function parseSpec<S extends z.ZodType>(schema: S, input: unknown, what: string, root = 'spec'): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(what, formatIssues(result.error, root));
  return result.data;
}
