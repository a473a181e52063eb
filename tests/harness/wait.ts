/** Polling helper for tests that wait on real systems. */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `check` every `intervalMs` until it returns a value other than undefined/false, and returns it.
 * @throws Error naming `what` and the last error of `check` after `timeoutMs`.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** Resolves when `promise` rejects; throws `message` when it resolves. */
export async function rejects(promise: Promise<unknown>, message: string): Promise<void> {
  try {
    await promise;
  } catch {
    return;
  }
  throw new Error(message);
}
