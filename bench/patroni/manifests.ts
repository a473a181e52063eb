/**
 * Kubernetes objects of a 3-member Patroni cluster (Debian's Patroni 3.0 in localhost/pg-operator/patroni:dev,
 * Kubernetes as its DCS): RBAC for Patroni's kubernetes DCS, a password Secret, a StatefulSet spread over
 * nodes, and a primary Service selecting the pod Patroni labels `role=master`.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/** Patroni's bootstrap DCS settings that decide failover speed. */
export interface PatroniSettings {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
  maximumLagOnFailover: number;
  synchronousMode: boolean;
  /** Leader lock in the Endpoints of the `<scope>` Service (true) or in the `<scope>-leader` ConfigMap (false, Patroni's default on Kubernetes). */
  useEndpoints: boolean;
}

/** Patroni's defaults (ttl 30, loop_wait 10, retry_timeout 10, maximum_lag_on_failover 1 MiB). */
export const PATRONI_DEFAULT: PatroniSettings = { ttl: 30, loopWait: 10, retryTimeout: 10, maximumLagOnFailover: 1 << 20, synchronousMode: false, useEndpoints: false };

/** Aggressive but valid settings: ttl >= loop_wait + 2 * retry_timeout (10 >= 2 + 2 * 4). */
export const PATRONI_TUNED: PatroniSettings = { ...PATRONI_DEFAULT, ttl: 10, loopWait: 2, retryTimeout: 4 };

/** The image built by hack/images/build.sh. */
export const PATRONI_IMAGE = 'localhost/pg-operator/patroni:dev';

/** The container that runs Patroni and its PostgreSQL. */
export const PATRONI_CONTAINER = 'patroni';

/** Labels Patroni puts on (and selects) its members; `role` is added by Patroni itself. */
export function patroniLabels(scope: string): Record<string, string> {
  return { application: 'patroni', 'cluster-name': scope };
}

/** Name of the Service that selects the leader. */
export function primaryServiceName(scope: string): string {
  return `${scope}-primary`;
}

/** Every object of a Patroni cluster `scope` in `namespace`, in apply order. */
export function patroniManifests(namespace: string, scope: string, settings: PatroniSettings, password: string, members = 3): KubernetesObject[] {
  const labels = patroniLabels(scope);
  const meta = (name: string) => ({ name, namespace, labels });
  const env = (name: string, value: string) => ({ name, value });
  const field = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const secret = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: scope, key } } });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(scope) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(scope),
      // What Patroni's kubernetes DCS uses: leader/config in ConfigMaps or Endpoints, its member state as pod
      // annotations and the role label, and the `<scope>-config` Service it creates in endpoints mode.
      rules: [
        { apiGroups: [''], resources: ['configmaps', 'endpoints'], verbs: ['create', 'get', 'list', 'patch', 'update', 'watch', 'delete', 'deletecollection'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'patch', 'update', 'watch'] },
        { apiGroups: [''], resources: ['services'], verbs: ['create'] },
      ],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(scope),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: scope },
      subjects: [{ kind: 'ServiceAccount', name: scope, namespace }],
    } as KubernetesObject,
    { apiVersion: 'v1', kind: 'Secret', metadata: meta(scope), stringData: { superuser: password, replication: password } } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(primaryServiceName(scope)),
      spec: { selector: { ...labels, role: 'master' }, ports: [{ name: 'postgresql', port: 5432, targetPort: 5432 }] },
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(`${scope}-members`),
      spec: { clusterIP: 'None', selector: labels, ports: [{ name: 'postgresql', port: 5432 }], publishNotReadyAddresses: true },
    } as KubernetesObject,
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta(scope),
      spec: {
        replicas: members,
        serviceName: `${scope}-members`,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: scope,
            terminationGracePeriodSeconds: 30,
            enableServiceLinks: false,
            // One member per node, so a node fault takes exactly one member.
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: labels }, topologyKey: 'kubernetes.io/hostname' }] } },
            containers: [
              {
                name: PATRONI_CONTAINER,
                image: PATRONI_IMAGE,
                imagePullPolicy: 'IfNotPresent',
                env: [
                  env('PATRONI_SCOPE', scope),
                  field('POD_NAME', 'metadata.name'),
                  field('POD_NAMESPACE', 'metadata.namespace'),
                  field('POD_IP', 'status.podIP'),
                  env('PATRONI_USE_ENDPOINTS', String(settings.useEndpoints)),
                  env('PATRONI_TTL', String(settings.ttl)),
                  env('PATRONI_LOOP_WAIT', String(settings.loopWait)),
                  env('PATRONI_RETRY_TIMEOUT', String(settings.retryTimeout)),
                  env('PATRONI_MAXIMUM_LAG_ON_FAILOVER', String(settings.maximumLagOnFailover)),
                  env('PATRONI_SYNCHRONOUS_MODE', String(settings.synchronousMode)),
                  secret('PGPASSWORD_SUPERUSER', 'superuser'),
                  secret('PGPASSWORD_REPLICATION', 'replication'),
                ],
                ports: [{ name: 'postgresql', containerPort: 5432 }, { name: 'patroni', containerPort: 8008 }],
                // Same cadence as the operator's instances (2 s, 2 failures), on Patroni's REST API.
                readinessProbe: { httpGet: { path: '/readiness', port: 8008 }, periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 2 },
                volumeMounts: [{ name: 'pgdata', mountPath: '/pgdata' }],
              },
            ],
            volumes: [{ name: 'pgdata', emptyDir: {} }],
          },
        },
      },
    } as KubernetesObject,
  ];
}
