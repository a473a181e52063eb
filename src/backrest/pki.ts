/**
 * The certificates of a cluster's pgBackRest TLS servers: a CA per cluster, kept by the operator in
 * `<cluster>-pgbackrest-ca` (never mounted in a pod), and two certificates it signs, the repository host's and
 * the instances', in `<cluster>-pgbackrest-certs`. Each certificate serves its TLS server and is the client
 * certificate of its side. Made with openssl, like the API's certificate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { clusterLabels, clusterNames } from '../cluster/names.ts';
import type { PgClusterResource } from '../crd/types.ts';
import { describeError, httpStatus } from '../k8s/custom.ts';
import { certificateHosts, commonNames } from './objects.ts';

/** A CA: certificate and key, PEM. */
export interface Ca {
  cert: string;
  key: string;
}

const DAYS = '3650';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function inTempDir<T>(work: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'pgo-backrest-pki-'));
  try {
    return work(dir);
  } catch (err) {
    throw new Error(`making pgBackRest certificates with openssl: ${(err as Error).message}`, { cause: err });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A new CA for one cluster. */
export function newCa(cluster: string): Ca {
  return inTempDir((dir) => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', DAYS, '-subj', `/CN=${cluster}-pgbackrest-ca`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
    return { cert: readFileSync(join(dir, 'ca.crt'), 'utf8'), key: readFileSync(join(dir, 'ca.key'), 'utf8') };
  });
}

/** A certificate signed by `ca` for `cn`, valid for `hosts`, usable by a server and as a client. */
export function signCertificate(ca: Ca, cn: string, hosts: string[]): { cert: string; key: string } {
  return inTempDir((dir) => {
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(dir, 'ext'), [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}`,
    ].join('\n'));
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${cn}`], dir);
    openssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', DAYS, '-extfile', 'ext', '-out', 'tls.crt'], dir);
    return { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
  });
}

/** The certificates Secret's data for a cluster, signed by `ca`. */
export function certificateData(cluster: PgClusterResource, ca: Ca): Record<string, string> {
  const { name, namespace } = cluster.metadata;
  const cn = commonNames(name);
  const hosts = certificateHosts(name, namespace);
  const repo = signCertificate(ca, cn.repo, hosts.repo);
  const db = signCertificate(ca, cn.db, hosts.db);
  return { 'ca.crt': ca.cert, 'repo.crt': repo.cert, 'repo.key': repo.key, 'db.crt': db.cert, 'db.key': db.key };
}

function secret(cluster: PgClusterResource, name: string, data: Record<string, string>): V1Secret {
  const c = cluster.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: c.namespace,
      labels: clusterLabels(c.name, cluster.spec.userLabels),
      ownerReferences: [{ apiVersion: cluster.apiVersion, kind: cluster.kind, name: c.name, uid: c.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    type: 'Opaque',
    stringData: data,
  };
}

const decode = (s: V1Secret, key: string) => Buffer.from(s.data?.[key] ?? '', 'base64').toString();

/**
 * Creates the CA and certificate Secrets once (never rewritten: pods keep trusting what they mounted).
 * Safe to repeat and to interrupt: an existing CA is read back and signs any missing certificates.
 */
export async function ensureBackrestCertificates(kc: KubeConfig, cluster: PgClusterResource): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = cluster.metadata.namespace;
  const names = clusterNames(cluster.metadata.name);
  const read = async (name: string) => {
    try {
      return await core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw new Error(`reading Secret ${name}: ${describeError(err)}`, { cause: err });
    }
  };
  const create = async (body: V1Secret) => {
    try {
      await core.createNamespacedSecret({ namespace, body });
      return true;
    } catch (err) {
      if (httpStatus(err) === 409) return false;
      throw new Error(`creating Secret ${body.metadata?.name}: ${describeError(err)}`, { cause: err });
    }
  };
  if (await read(names.backrestCerts)) return;
  let ca: Ca;
  const existing = await read(names.backrestCa);
  if (existing) ca = { cert: decode(existing, 'ca.crt'), key: decode(existing, 'ca.key') };
  else {
    ca = newCa(cluster.metadata.name);
    if (!(await create(secret(cluster, names.backrestCa, { 'ca.crt': ca.cert, 'ca.key': ca.key })))) {
      const raced = (await read(names.backrestCa))!;
      ca = { cert: decode(raced, 'ca.crt'), key: decode(raced, 'ca.key') };
    }
  }
  await create(secret(cluster, names.backrestCerts, certificateData(cluster, ca)));
}
