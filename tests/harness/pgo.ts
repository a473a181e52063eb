/** Runs the real `pgo` process against an operator's API, as a user would, for end-to-end tests. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoreV1Api } from '@kubernetes/client-node';
import { ADMIN_CREDENTIALS_SECRET } from '../../src/api/bootstrap.ts';
import { TLS_SECRET } from '../../src/api/tls.ts';
import { buildBundles } from './operator.ts';

// The pgo users get (`npm run build`'s bundle, the bin of the npm pack tarball), built afresh for each test run.
buildBundles();
const pgoBin = fileURLToPath(new URL('../../dist/pgo.mjs', import.meta.url));

/** The outcome of one pgo run. */
export interface PgoRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs pgo with `args` in `env`. */
export function pgo(env: NodeJS.ProcessEnv, ...args: string[]): Promise<PgoRun> {
  return new Promise((resolve) => {
    execFile(pgoBin, args, { env, timeout: 300_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** Runs pgo and parses its `-o json` output; throws with stderr when it fails. */
export async function pgoJson<T>(env: NodeJS.ProcessEnv, ...args: string[]): Promise<T> {
  const r = await pgo(env, ...args, '-o', 'json');
  if (r.code !== 0) throw new Error(`pgo ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** The environment of a pgo user: the API's CA and the admin pgouser (from the operator's Secrets) in `dir`. */
export async function pgoEnv(core: CoreV1Api, dir: string, port: number, namespace: string): Promise<NodeJS.ProcessEnv> {
  const secret = (name: string, key: string) => core.readNamespacedSecret({ namespace: 'pgo', name }).then((s) => Buffer.from(s.data![key]!, 'base64').toString());
  writeFileSync(join(dir, 'ca.crt'), await secret(TLS_SECRET, 'tls.crt'));
  writeFileSync(join(dir, 'pgouser'), `admin:${await secret(ADMIN_CREDENTIALS_SECRET, 'password')}`, { mode: 0o600 });
  return { PATH: process.env.PATH, HOME: dir, PGO_APISERVER_URL: `https://127.0.0.1:${port}`, PGO_CA_CERT: join(dir, 'ca.crt'), PGOUSER: join(dir, 'pgouser'), PGO_NAMESPACE: namespace };
}
