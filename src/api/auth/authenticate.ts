/**
 * HTTP Basic authentication against pgouser Secrets, with the login throttle and a short-lived cache of
 * successful verifications (scrypt is deliberately slow; a CLI call should not pay it on every request).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Principal } from '../permissions.ts';
import { ApiError } from '../errors.ts';
import { MESSAGES } from '../routes.ts';
import { DUMMY_HASH, verifyPassword } from './password.ts';
import type { AccessStore, StoredUser } from './store.ts';
import { LoginThrottle } from './throttle.ts';

const CACHE_MS = 60_000;
const CACHE_MAX = 1000;

/** The user name and password of a Basic Authorization header, or undefined. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header?.trim() ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) return undefined;
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}

const unauthenticated = (extra?: Record<string, string>) =>
  new ApiError(401, MESSAGES.unauthenticated, undefined, { headers: { 'WWW-Authenticate': 'Basic realm="pg-operator", charset="UTF-8"', ...extra } });

/** Verifies credentials and resolves the user's permissions and namespaces. */
export class Authenticator {
  readonly throttle = new LoginThrottle();
  // Cache entries are keyed by an HMAC under a per-process key, so the cache never holds a password or a
  // fast unsalted hash of one; an entry is only valid for the Secret's resourceVersion it was checked at.
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, { resourceVersion: string; until: number }>();

  constructor(private readonly store: AccessStore) {}

  /** The principal for an Authorization header from `address`; throws 401, or 429 while locked out. */
  async authenticate(header: string | undefined, address: string): Promise<Principal> {
    const creds = parseBasic(header);
    if (!creds || creds.user.length > 253) throw unauthenticated();
    const locked = this.throttle.lockedFor(creds.user, address);
    if (locked > 0) {
      const seconds = Math.ceil(locked / 1000);
      throw new ApiError(429, MESSAGES.locked(seconds), undefined, { headers: { 'Retry-After': String(seconds) } });
    }
    const user = await this.store.getUser(creds.user);
    if (!user || !(await this.check(user, creds.password))) {
      if (!user) await verifyPassword(creds.password, DUMMY_HASH); // same time for unknown users
      const delay = this.throttle.fail(creds.user, address);
      await sleep(delay);
      throw unauthenticated();
    }
    this.throttle.succeed(creds.user, address);
    return this.principal(user);
  }

  private async check(user: StoredUser, password: string): Promise<boolean> {
    const key = createHmac('sha256', this.cacheKey).update(`${user.name}\u0000${password}`).digest('base64');
    const hit = this.verified.get(key);
    if (hit && hit.resourceVersion === user.resourceVersion && hit.until > Date.now()) return true;
    if (!(await verifyPassword(password, user.passwordHash))) return false;
    if (this.verified.size >= CACHE_MAX) this.verified.clear();
    this.verified.set(key, { resourceVersion: user.resourceVersion, until: Date.now() + CACHE_MS });
    return true;
  }

  /** Permissions of the user's roles (a role that does not exist grants nothing). */
  async principal(user: StoredUser): Promise<Principal> {
    const roles = await Promise.all(user.roles.map((r) => this.store.getRole(r)));
    const permissions = new Set(roles.flatMap((r) => r?.permissions ?? []));
    return { name: user.name, permissions, namespaces: user.allNamespaces ? '*' : user.namespaces };
  }
}
