/**
 * CLI configuration, as v4's pgo: the API URL (--apiserver-url or PGO_APISERVER_URL), namespace (-n or
 * PGO_NAMESPACE), the CA to trust (--pgo-ca-cert or PGO_CA_CERT) and credentials from the PGOUSER file
 * (default ~/.pgouser, then /etc/pgo/pgouser) holding `user:password`, or PGOUSERNAME + PGOUSERPASS.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Everything needed to call the API. */
export interface CliConfig {
  url: string;
  namespace: string;
  ca?: string;
  user: string;
  password: string;
}

/** A user error: printed as `Error: <message>`, exit code `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** Parses a `user:password` line. */
export function parseCredentials(text: string, source: string): { user: string; password: string } {
  const line = text.split(/\r?\n/)[0]?.trim() ?? '';
  const i = line.indexOf(':');
  if (i <= 0) throw new CliError(`${source} must hold one line "username:password"`);
  return { user: line.slice(0, i), password: line.slice(i + 1) };
}

/** Global options as parsed by sade. */
export interface GlobalOptions {
  namespace?: string;
  'apiserver-url'?: string;
  'pgo-ca-cert'?: string;
}

/** Resolves the configuration from options and the environment. */
export function loadConfig(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const url = opts['apiserver-url'] ?? env.PGO_APISERVER_URL;
  if (!url) throw new CliError('PGO_APISERVER_URL is not set: export PGO_APISERVER_URL=https://<host>:8443 (or pass --apiserver-url)');
  if (!url.startsWith('https://')) throw new CliError(`PGO_APISERVER_URL must start with https:// (the API only speaks TLS): ${url}`);
  const caFile = opts['pgo-ca-cert'] ?? env.PGO_CA_CERT;
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new CliError(`reading PGO_CA_CERT ${caFile}: ${(err as Error).message}`, 1, { cause: err });
    }
  }
  let creds: { user: string; password: string };
  if (env.PGOUSERNAME && env.PGOUSERPASS) creds = { user: env.PGOUSERNAME, password: env.PGOUSERPASS };
  else {
    const candidates = env.PGOUSER ? [env.PGOUSER] : [join(homedir(), '.pgouser'), '/etc/pgo/pgouser'];
    const file = candidates.find((f) => existsSync(f));
    if (!file) throw new CliError(`no credentials: write "username:password" to ${candidates[0]} (chmod 600) or set PGOUSER to such a file`);
    if ((statSync(file).mode & 0o077) !== 0) process.stderr.write(`warning: ${file} is readable by other users; chmod 600 ${file}\n`);
    creds = parseCredentials(readFileSync(file, 'utf8'), file);
  }
  const namespace = String(opts.namespace ?? env.PGO_NAMESPACE ?? 'default');
  return { url: url.replace(/\/+$/, ''), namespace, ca, ...creds };
}
