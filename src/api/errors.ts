/** Errors the API answers with: an HTTP status, a message, and for validation the offending fields. */
import type { z } from 'zod';

/** An error with the HTTP status to answer. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields?: string[],
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options);
    this.name = 'ApiError';
    this.headers = options?.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

/** `root.path: message` lines for zod issues; unknown keys are named one by one. */
export function issueLines(error: z.ZodError, root: string): string[] {
  return error.issues.flatMap((issue) => {
    const path = [root, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${path}.${k}: unknown field`);
    return [`${path}: ${issue.message}`];
  });
}

/** Parses `input` with `schema` or throws a 400 naming every bad field under `root` (body, query, path). */
export function validate<S extends z.ZodType>(schema: S, input: unknown, root: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = issueLines(result.error, root);
  throw new ApiError(400, `invalid request: ${lines.join('; ')}`, lines);
}
