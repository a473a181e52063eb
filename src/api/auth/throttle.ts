/**
 * Slows down password guessing: failures are counted per (user, client address); each failure delays its
 * own answer a little longer, and after MAX_FAILURES the pair is locked out for a while (429), whatever
 * password it sends. Keyed by address too, so a stranger cannot lock the real admin out from elsewhere.
 */

/** Failures allowed before a lockout. */
export const MAX_FAILURES = 5;
const LOCK_BASE_MS = 30_000;
const LOCK_MAX_MS = 15 * 60_000;
const FORGET_MS = 15 * 60_000;
// Bounded: guesses with ever new user names must not grow the map without limit.
const MAX_ENTRIES = 10_000;

interface Entry {
  failures: number;
  lockedUntil: number;
  last: number;
}

/** Counts failed logins. */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly now: () => number = Date.now) {}

  private key(user: string, address: string): string {
    return `${user}\u0000${address}`;
  }

  /** Milliseconds the pair is still locked out (0: not locked). */
  lockedFor(user: string, address: string): number {
    const e = this.entries.get(this.key(user, address));
    return e ? Math.max(0, e.lockedUntil - this.now()) : 0;
  }

  /** Records a failure; returns how long to delay the 401 answer (grows with each failure, at most 2 s). */
  fail(user: string, address: string): number {
    const key = this.key(user, address);
    const now = this.now();
    let e = this.entries.get(key);
    if (!e || now - e.last > FORGET_MS) e = { failures: 0, lockedUntil: 0, last: now };
    e.failures++;
    e.last = now;
    if (e.failures >= MAX_FAILURES) e.lockedUntil = now + Math.min(LOCK_MAX_MS, LOCK_BASE_MS * 2 ** (e.failures - MAX_FAILURES));
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    return Math.min(2000, 100 * 2 ** (e.failures - 1));
  }

  /** A successful login forgets the failures. */
  succeed(user: string, address: string): void {
    this.entries.delete(this.key(user, address));
  }

  /** Number of tracked pairs. */
  get size(): number {
    return this.entries.size;
  }
}
