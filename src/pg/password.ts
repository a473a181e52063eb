/**
 * Password verifiers as PostgreSQL stores them, computed here so that a password never travels as plain text
 * in SQL (where statement logging or pg_stat_statements would keep it): SCRAM-SHA-256 (RFC 5802/7677, as
 * PostgreSQL's own `scram_build_secret`) and the legacy md5.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, randomInt } from 'node:crypto';

/** PostgreSQL's default SCRAM iteration count. */
export const SCRAM_ITERATIONS = 4096;

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for `password`. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** `md5<md5(password || username)>`, PostgreSQL's md5 verifier. */
export function md5Verifier(password: string, username: string): string {
  return `md5${createHash('md5').update(password + username).digest('hex')}`;
}

/** The verifier for a cluster's password type. */
export function passwordVerifier(type: 'scram-sha-256' | 'md5', password: string, username: string): string {
  return type === 'md5' ? md5Verifier(password, username) : scramVerifier(password);
}

const PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random password of `length` letters and digits (nothing a shell, a URL or a .pgpass line must escape). */
export function generatePassword(length: number): string {
  return Array.from({ length }, () => PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)]).join('');
}
