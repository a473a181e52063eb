/**
 * The API's TLS certificate: read from the Secret `pgo.tls` in the operator namespace, or generated on the
 * first start (self-signed, with openssl) and stored there, so every operator replica and every restart
 * serves the same certificate and `pgo` can trust it through PGO_CA_CERT.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { LABEL, MANAGED_BY } from '../cluster/names.ts';
import { describeError, httpStatus } from '../k8s/custom.ts';

/** Name of the Secret holding the API certificate (v4's name). */
export const TLS_SECRET = 'pgo.tls';

/** A certificate and its key, PEM. */
export interface TlsMaterial {
  cert: string;
  key: string;
}

/** Generates a self-signed certificate for `hosts` (DNS names and IP addresses). */
export function selfSigned(hosts: string[]): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'pgo-tls-'));
  try {
    const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
      '-subj', '/CN=pg-operator-api', '-addext', `subjectAltName=${san}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
      '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
  } catch (err) {
    throw new Error(`generating the API certificate with openssl: ${(err as Error).message}`, { cause: err });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Host names the generated certificate covers: loopback, the in-cluster Service names and extra ones. */
export function defaultHosts(namespace: string, extra: string[] = []): string[] {
  const svc = 'pg-operator';
  return [...new Set(['localhost', '127.0.0.1', '::1', svc, `${svc}.${namespace}`, `${svc}.${namespace}.svc`, `${svc}.${namespace}.svc.cluster.local`, ...extra])];
}

/** Reads `pgo.tls`, creating it when missing (a concurrent creator wins and its certificate is used). */
export async function loadOrCreateTls(kc: KubeConfig, namespace: string, hosts = defaultHosts(namespace)): Promise<TlsMaterial> {
  const core = kc.makeApiClient(CoreV1Api);
  const read = async (): Promise<TlsMaterial | undefined> => {
    try {
      const s = await core.readNamespacedSecret({ namespace, name: TLS_SECRET });
      const d = s.data ?? {};
      if (!d['tls.crt'] || !d['tls.key']) throw new Error(`Secret ${namespace}/${TLS_SECRET} lacks tls.crt or tls.key`);
      return { cert: Buffer.from(d['tls.crt'], 'base64').toString(), key: Buffer.from(d['tls.key'], 'base64').toString() };
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw new Error(`reading Secret ${namespace}/${TLS_SECRET}: ${describeError(err)}`, { cause: err });
    }
  };
  const existing = await read();
  if (existing) return existing;
  const made = selfSigned(hosts);
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: TLS_SECRET, namespace, labels: { [LABEL.managedBy]: MANAGED_BY } },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': Buffer.from(made.cert).toString('base64'), 'tls.key': Buffer.from(made.key).toString('base64') },
      },
    });
    return made;
  } catch (err) {
    if (httpStatus(err) !== 409) throw new Error(`storing Secret ${namespace}/${TLS_SECRET}: ${describeError(err)}`, { cause: err });
    return (await read())!;
  }
}
