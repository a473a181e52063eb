/**
 * Pure builders of a cluster's pgBackRest objects: the settings (one file for the database pods, one for the
 * repository host), the repository host (Deployment, Service, volume), the headless Service that names each
 * instance for TLS, and what a database pod needs (the pgBackRest TLS server sidecar, mounts, environment).
 *
 * Topology (pgBackRest 2.45): backups run where the repository is, on the repository host, which reaches
 * PostgreSQL through the pgBackRest TLS server beside each instance (`pg1-host-type=tls`). The instances push
 * and fetch WAL through the repository host's TLS server (`repo1-host-type=tls`) and straight to S3 (repo2).
 * Both sides present certificates from the cluster's own CA and accept only the other side's common name.
 */
import type { V1ConfigMap, V1Container, V1Deployment, V1EnvVar, V1PersistentVolumeClaim, V1PodSpec, V1Service, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { REPO_NUMBER, backrestOf, repoKinds, type BackrestSpec } from '../crd/backrest.ts';
import { quantityValue } from '../crd/limits.ts';
import type { PgClusterResource } from '../crd/types.ts';
import { volumeClaim } from '../cluster/builders.ts';
import { LABEL, clusterLabels, clusterNames } from '../cluster/names.ts';

/** The PostgreSQL image's postgres user and group (fixed in images/postgres/Dockerfile). */
export const POSTGRES_UID = 999;
/** pgBackRest's TLS server port (its default). */
export const TLS_PORT = 8432;
/** The stanza name (v4's). */
export const STANZA = 'db';

/**
 * The restore_command of a restore (a `pgbackrest restore` option): a synchronous archive-get (the
 * asynchronous one answers "no such file" when it runs out of time) through pgo-restore-get, which turns a
 * repository that does not answer into a stopped recovery instead of an early end of it (PostgreSQL takes a
 * failed fetch for the end of the archive and promotes: the writes after it would be missing).
 * `config`: another cluster's settings (spec.dataSource); `pgPath`: the data directory (archive-get checks it
 * is the one it runs in).
 */
export function restoreCommandOption(config?: string, pgPath: string = PATHS.pgdata): string {
  return `--recovery-option=restore_command=pgo-restore-get pgbackrest${config ? ` --config=${config}` : ''} --stanza=${STANZA} --pg1-path=${pgPath} --no-archive-async archive-get %f "%p"`;
}

/** Paths inside the containers. */
export const PATHS = {
  config: '/etc/pgo-backrest/config/pgbackrest.conf',
  configDir: '/etc/pgo-backrest/config',
  certs: '/etc/pgo-backrest/certs',
  s3Ca: '/etc/pgo-backrest/s3/ca.crt',
  s3CaDir: '/etc/pgo-backrest/s3',
  /** Settings and certificates for the repository host of spec.dataSource. */
  source: '/etc/pgo-backrest/source',
  /** The repository host's volume: repo1, logs and the state of running jobs. */
  repoRoot: '/pgbackrest',
  repo1: '/pgbackrest/repo1',
  jobs: '/pgbackrest/jobs',
  pgdata: '/pgdata/data',
  socket: '/var/run/postgresql',
} as const;

/** Common names of the two certificates: the repository host's and the instances'. */
export const commonNames = (cluster: string) => ({ repo: `${cluster}-repo-host`, db: `${cluster}-db` });

/** Host names of the repository host's certificate (the Service) and of the instances' (a wildcard). */
export function certificateHosts(cluster: string, namespace: string): { repo: string[]; db: string[] } {
  const n = clusterNames(cluster);
  const svc = (name: string) => [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  return { repo: svc(n.repoHost), db: svc(n.podsService).map((h) => `*.${h}`) };
}

/**
 * Host name of an instance's pod for pgBackRest. Not the instance's own name: the first instance is named like
 * the cluster, and a pod's own host name shadows the Service of that name (the primary Service) inside it.
 */
export const podHostname = (instance: string) => `${instance}-pgbr`;

/** DNS name of one instance, through the headless Service. */
export function instanceHost(cluster: PgClusterResource, instance: string): string {
  return `${podHostname(instance)}.${clusterNames(cluster.metadata.name).podsService}.${cluster.metadata.namespace}.svc`;
}

/** The repository path of the S3 repository: /<namespace>/<cluster> unless set. */
export function s3Path(cluster: PgClusterResource, b: BackrestSpec): string {
  return b.s3?.path ?? `/${cluster.metadata.namespace}/${cluster.metadata.name}`;
}

const line = (k: string, v: string | number) => `${k}=${v}`;

/** A Kubernetes quantity (1Gi, 500Mi) as a pgBackRest size (1GiB, 500MiB). */
export function backrestSize(q: string): string {
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(q);
  if (m) return `${m[1]}${m[2] ? `${m[2]}B` : ''}`;
  return String(Math.floor(quantityValue(q)));
}

function repoLines(cluster: PgClusterResource, b: BackrestSpec, side: 'db' | 'repo'): string[] {
  const n = clusterNames(cluster.metadata.name);
  const lines: string[] = [];
  for (const kind of repoKinds(b)) {
    const r = `repo${REPO_NUMBER[kind]}`;
    if (kind === 'posix') {
      lines.push(line(`${r}-path`, PATHS.repo1));
      if (side === 'db') {
        lines.push(
          line(`${r}-host`, `${n.repoHost}.${cluster.metadata.namespace}.svc`),
          line(`${r}-host-type`, 'tls'),
          line(`${r}-host-port`, TLS_PORT),
          line(`${r}-host-ca-file`, `${PATHS.certs}/ca.crt`),
          line(`${r}-host-cert-file`, `${PATHS.certs}/tls.crt`),
          line(`${r}-host-key-file`, `${PATHS.certs}/tls.key`),
        );
      }
    } else {
      const s3 = b.s3!;
      lines.push(
        line(`${r}-type`, 's3'),
        line(`${r}-path`, s3Path(cluster, b)),
        line(`${r}-s3-bucket`, s3.bucket),
        line(`${r}-s3-endpoint`, s3.endpoint.replace(/:\d+$/, '')),
        line(`${r}-s3-region`, s3.region),
        line(`${r}-s3-uri-style`, s3.uriStyle),
        line(`${r}-storage-verify-tls`, s3.verifyTLS ? 'y' : 'n'),
      );
      const port = /:(\d+)$/.exec(s3.endpoint)?.[1];
      if (port) lines.push(line(`${r}-storage-port`, port));
      if (s3.caSecret) lines.push(line(`${r}-storage-ca-file`, PATHS.s3Ca));
    }
    if (side === 'repo') {
      lines.push(line(`${r}-retention-full`, b.retentionFull));
      if (b.retentionDiff !== undefined) lines.push(line(`${r}-retention-diff`, b.retentionDiff));
    }
  }
  return lines;
}

/** pgbackrest.conf of the database pods (archive-push/get, the TLS server) and of the repository host. */
export function backrestConfigFiles(cluster: PgClusterResource): { db: string; repo: string } {
  const b = backrestOf(cluster.spec);
  const cn = commonNames(cluster.metadata.name);
  const server = (client: string) => [
    line('tls-server-address', '*'),
    line('tls-server-port', TLS_PORT),
    line('tls-server-ca-file', `${PATHS.certs}/ca.crt`),
    line('tls-server-cert-file', `${PATHS.certs}/tls.crt`),
    line('tls-server-key-file', `${PATHS.certs}/tls.key`),
    line('tls-server-auth', `${client}=${STANZA}`),
  ];
  const header = '# Managed by pg-operator from the pgcluster spec; pg hosts are given on the command line.';
  const db = [
    header,
    '[global]',
    line('log-path', '/pgdata/pgbackrest/log'),
    line('spool-path', '/pgdata/pgbackrest/spool'),
    line('lock-path', '/tmp/pgbackrest'),
    line('archive-async', 'y'),
    line('archive-get-queue-max', '128MiB'),
    ...(b.archivePushQueueMax ? [line('archive-push-queue-max', backrestSize(b.archivePushQueueMax))] : []),
    line('log-level-file', 'info'),
    ...repoLines(cluster, b, 'db'),
    ...server(cn.repo),
    `[${STANZA}]`,
    line('pg1-path', PATHS.pgdata),
    line('pg1-port', cluster.spec.port),
    line('pg1-socket-path', PATHS.socket),
  ];
  const repo = [
    header,
    '[global]',
    line('log-path', `${PATHS.repoRoot}/log`),
    line('lock-path', '/tmp/pgbackrest'),
    line('log-level-file', 'info'),
    line('start-fast', 'y'),
    ...repoLines(cluster, b, 'repo'),
    ...server(cn.db),
  ];
  return { db: `${db.join('\n')}\n`, repo: `${repo.join('\n')}\n` };
}

/** pgbackrest arguments naming PostgreSQL instance `index` (1: the primary, 2: a standby) through its TLS server. */
export function pgHostArgs(cluster: PgClusterResource, index: number, instance: string): string[] {
  const p = `--pg${index}`;
  return [
    `${p}-host=${instanceHost(cluster, instance)}`,
    `${p}-host-type=tls`,
    `${p}-host-port=${TLS_PORT}`,
    `${p}-host-ca-file=${PATHS.certs}/ca.crt`,
    `${p}-host-cert-file=${PATHS.certs}/tls.crt`,
    `${p}-host-key-file=${PATHS.certs}/tls.key`,
    `${p}-path=${PATHS.pgdata}`,
    `${p}-port=${cluster.spec.port}`,
    `${p}-socket-path=${PATHS.socket}`,
  ];
}

function meta(cluster: PgClusterResource, name: string, extra: Record<string, string> = {}) {
  const c = cluster.metadata;
  return {
    name,
    namespace: c.namespace,
    labels: { ...clusterLabels(c.name, cluster.spec.userLabels), ...extra },
    ownerReferences: [{ apiVersion: cluster.apiVersion, kind: cluster.kind, name: c.name, uid: c.uid ?? '', controller: true, blockOwnerDeletion: true }],
  };
}

/** The ConfigMap with both pgbackrest.conf files. */
export function backrestConfigMap(cluster: PgClusterResource): V1ConfigMap {
  const files = backrestConfigFiles(cluster);
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(cluster, clusterNames(cluster.metadata.name).backrestConfig), data: { 'db.conf': files.db, 'repo.conf': files.repo } };
}

/** S3 credentials as pgBackRest environment variables, from the user's Secret (v4's key names). */
function s3Env(b: BackrestSpec): V1EnvVar[] {
  if (!b.s3 || !repoKinds(b).includes('s3')) return [];
  const r = `PGBACKREST_REPO${REPO_NUMBER.s3}_S3`;
  const key = (name: string, k: string): V1EnvVar => ({ name, valueFrom: { secretKeyRef: { name: b.s3!.credentialsSecret, key: k } } });
  return [key(`${r}_KEY`, 'aws-s3-key'), key(`${r}_KEY_SECRET`, 'aws-s3-key-secret')];
}

function volumes(cluster: PgClusterResource, side: 'db' | 'repo'): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const n = clusterNames(cluster.metadata.name);
  const b = backrestOf(cluster.spec);
  const volumes: V1Volume[] = [
    { name: 'pgbackrest-config', configMap: { name: n.backrestConfig, items: [{ key: `${side}.conf`, path: 'pgbackrest.conf' }] } },
    {
      name: 'pgbackrest-certs',
      // Only this side's key; readable by the postgres group alone (pgBackRest runs as postgres).
      secret: { secretName: n.backrestCerts, defaultMode: 0o640, items: [{ key: 'ca.crt', path: 'ca.crt' }, { key: `${side}.crt`, path: 'tls.crt' }, { key: `${side}.key`, path: 'tls.key' }] },
    },
  ];
  const mounts: V1VolumeMount[] = [
    { name: 'pgbackrest-config', mountPath: PATHS.configDir, readOnly: true },
    { name: 'pgbackrest-certs', mountPath: PATHS.certs, readOnly: true },
  ];
  if (b.s3?.caSecret && repoKinds(b).includes('s3')) {
    volumes.push({ name: 'pgbackrest-s3-ca', secret: { secretName: b.s3.caSecret, items: [{ key: 'aws-s3-ca.crt', path: 'ca.crt' }] } });
    mounts.push({ name: 'pgbackrest-s3-ca', mountPath: PATHS.s3CaDir, readOnly: true });
  }
  return { volumes, mounts };
}

/** Environment of every container that runs pgbackrest. */
export function backrestEnv(cluster: PgClusterResource): V1EnvVar[] {
  return [{ name: 'PGBACKREST_CONFIG', value: PATHS.config }, ...s3Env(backrestOf(cluster.spec))];
}

/**
 * What pgBackRest adds to a database pod: its DNS name (hostname + subdomain of the headless Service), the
 * socket directory shared with the sidecar, the settings and certificates, and the TLS server sidecar.
 */
export function databasePodBackrest(cluster: PgClusterResource, instance: string, image: string): {
  pod: Pick<V1PodSpec, 'hostname' | 'subdomain' | 'securityContext'>;
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
  env: V1EnvVar[];
  sidecar: V1Container;
} {
  const v = volumes(cluster, 'db');
  const mounts = [...v.mounts, { name: 'pgsocket', mountPath: PATHS.socket }];
  const env = backrestEnv(cluster);
  return {
    pod: { hostname: podHostname(instance), subdomain: clusterNames(cluster.metadata.name).podsService, securityContext: { fsGroup: POSTGRES_UID } },
    volumes: [...v.volumes, { name: 'pgsocket', emptyDir: {} }],
    mounts,
    env: [...env, { name: 'PGO_BACKREST', value: 'on' }, { name: 'PGO_ARCHIVE_TIMEOUT', value: String(backrestOf(cluster.spec).archiveTimeoutSeconds) }],
    sidecar: {
      name: 'pgbackrest',
      image,
      imagePullPolicy: 'IfNotPresent',
      command: ['pgbackrest', 'server'],
      env,
      ports: [{ name: 'pgbackrest', containerPort: TLS_PORT }],
      readinessProbe: { tcpSocket: { port: TLS_PORT }, periodSeconds: 5 },
      volumeMounts: [...mounts, { name: 'pgdata', mountPath: '/pgdata' }],
    },
  };
}

/** The repository host: one pod running the pgBackRest TLS server over the repository volume (repo1). */
export function repoHostDeployment(cluster: PgClusterResource): V1Deployment {
  const n = clusterNames(cluster.metadata.name);
  const b = backrestOf(cluster.spec);
  const labels = { [LABEL.cluster]: cluster.metadata.name, [LABEL.component]: 'repo-host' };
  const v = volumes(cluster, 'repo');
  const posix = repoKinds(b).includes('posix');
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(cluster, n.repoHost, { [LABEL.component]: 'repo-host' }),
    spec: {
      replicas: 1,
      // One pod at a time on the volume: two servers must never write one repository.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: labels },
      template: {
        // No spec.userLabels here: `pgo label` would restart the repository host.
        metadata: { labels: { ...clusterLabels(cluster.metadata.name), ...labels } },
        spec: {
          securityContext: { fsGroup: POSTGRES_UID },
          enableServiceLinks: false,
          tolerations: cluster.spec.tolerations,
          containers: [
            {
              name: 'pgbackrest',
              image: cluster.spec.image,
              imagePullPolicy: 'IfNotPresent',
              command: ['/usr/local/bin/pgo-repo-host'],
              env: backrestEnv(cluster),
              ports: [{ name: 'pgbackrest', containerPort: TLS_PORT }],
              readinessProbe: { tcpSocket: { port: TLS_PORT }, periodSeconds: 5 },
              volumeMounts: [...v.mounts, { name: 'repo', mountPath: PATHS.repoRoot }],
            },
          ],
          volumes: [...v.volumes, posix ? { name: 'repo', persistentVolumeClaim: { claimName: n.repoVolume } } : { name: 'repo', emptyDir: {} }],
        },
      },
    },
  };
}

/** The repository host's volume (only with a posix repository): spec.storage.backrest, else the primary's. */
export function repoVolume(cluster: PgClusterResource): V1PersistentVolumeClaim {
  return volumeClaim(meta(cluster, clusterNames(cluster.metadata.name).repoVolume), cluster.spec.storage.backrest ?? cluster.spec.storage.primary);
}

/** The repository host's Service and the headless Service naming the instances. */
export function backrestServices(cluster: PgClusterResource): V1Service[] {
  const n = clusterNames(cluster.metadata.name);
  const c = cluster.metadata.name;
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(cluster, n.repoHost),
      spec: { selector: { [LABEL.cluster]: c, [LABEL.component]: 'repo-host' }, ports: [{ name: 'pgbackrest', port: TLS_PORT, targetPort: 'pgbackrest' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(cluster, n.podsService),
      // Every instance, ready or not: the repository host must reach a primary that is still starting.
      spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { [LABEL.cluster]: c, [LABEL.component]: 'database' }, ports: [{ name: 'pgbackrest', port: TLS_PORT }] },
    },
  ];
}

/** Every pgBackRest object of a cluster, in apply order; none when backrest is disabled. */
export function backrestObjects(cluster: PgClusterResource) {
  const b = backrestOf(cluster.spec);
  if (!b.enabled) return [];
  return [backrestConfigMap(cluster), ...backrestServices(cluster), ...(repoKinds(b).includes('posix') ? [repoVolume(cluster)] : []), repoHostDeployment(cluster)];
}
