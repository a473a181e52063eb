/**
 * Shapes shared by the custom resources: quantities, storage, resources, placement and conditions.
 * These zod schemas are the single source of the CRD YAML in `crds/` (see `hack/gen-crds.ts`).
 */
import { z } from 'zod';
import { LIMIT_MESSAGES, cel, quantityValue } from './limits.ts';

/** A Kubernetes DNS-1123 label: lower-case letters, digits and '-', 1 to 63 characters. */
export const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS-1123 label: lower-case letters, digits and '-', e.g. 'hippo'");

/** A Kubernetes resource quantity such as `1Gi`, `500Mi`, `250m` or `2`. */
export const quantity = z
  .string()
  .regex(
    /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/,
    "must be a Kubernetes quantity, e.g. '1Gi', '500Mi', '250m' or '2'",
  );

/** A label key or value pair used for placement. */
export const labelSelectorTerm = z.strictObject({
  key: z.string().min(1).describe('node label key, e.g. topology.kubernetes.io/zone'),
  value: z.string().describe('node label value'),
});

/** How strongly a placement rule binds. */
export const affinityType = z.enum(['preferred', 'required']);

/** Node placement of an instance, as in v4's `--node-label` / `--node-affinity-type`. */
export const nodeAffinity = z
  .strictObject({
    nodeName: z.string().min(1).optional().describe('put the instance on this node (kubernetes.io/hostname)'),
    nodeLabel: labelSelectorTerm.optional().describe('put the instance on a node with this label'),
    type: affinityType.default('preferred').describe('preferred (scheduler may fall back) or required'),
  })
  .describe('node affinity of the instance');

/** Spreading of a cluster's instances over nodes. */
export const podAntiAffinityType = z.enum(['preferred', 'required', 'disabled']);

/** How a volume is provisioned, after v4's `storagetype`. */
export const storageType = z.enum(['dynamic', 'create', 'existing', 'emptydir']);

/** A storage size: a quantity above zero. */
export const storageSize = cel(quantity.refine((q) => !(quantityValue(q) <= 0), LIMIT_MESSAGES.size), [
  { rule: "!isQuantity(self) || quantity(self).isGreaterThan(quantity('0'))", message: LIMIT_MESSAGES.size },
]);

/** Storage of one volume (v4 `PgStorageSpec`, typed). */
export const storageSpec = z.strictObject({
  size: storageSize.describe('requested size, e.g. 1Gi'),
  storageClass: z.string().min(1).optional().describe('StorageClass name; the cluster default when unset'),
  accessMode: z.enum(['ReadWriteOnce', 'ReadWriteMany', 'ReadOnlyMany', 'ReadWriteOncePod']).default('ReadWriteOnce'),
  type: storageType.default('dynamic'),
  matchLabels: z.record(z.string(), z.string()).optional().describe('labels of pre-made volumes to bind (type create)'),
});

const resourceList = z.strictObject({
  cpu: quantity.optional(),
  memory: quantity.optional(),
});

const atLeast = (limit: string | undefined, request: string | undefined) => !limit || !request || !(quantityValue(limit) < quantityValue(request));
const celAtLeast = (r: 'cpu' | 'memory') =>
  `!has(self.requests) || !has(self.limits) || !has(self.requests.${r}) || !has(self.limits.${r}) || !isQuantity(self.requests.${r}) || !isQuantity(self.limits.${r}) || quantity(self.limits.${r}).compareTo(quantity(self.requests.${r})) >= 0`;

/** CPU and memory requests and limits of a container; a limit is never below its request. */
export const resources = cel(
  z
    .strictObject({
      requests: resourceList.optional(),
      limits: resourceList.optional(),
    })
    .refine((r) => atLeast(r.limits?.cpu, r.requests?.cpu) && atLeast(r.limits?.memory, r.requests?.memory), LIMIT_MESSAGES.limitBelowRequest),
  [
    { rule: celAtLeast('cpu'), message: LIMIT_MESSAGES.limitBelowRequest },
    { rule: celAtLeast('memory'), message: LIMIT_MESSAGES.limitBelowRequest },
  ],
);


/** A pod toleration. */
export const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).default('Equal'),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.int().min(0).optional(),
});

/** How a Service is exposed. */
export const serviceType = z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']);

/** A standard status condition (metav1.Condition). */
export const condition = z.strictObject({
  type: z.string().min(1),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.int().min(0).optional(),
});

/** Conditions keyed by type, merged per type by server-side apply. */
export const conditions = z
  .array(condition)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

/** Phase of an asynchronous piece of work (tasks, backups, upgrades). */
export const workPhase = z.enum(['Pending', 'Running', 'Succeeded', 'Failed']);

/** Status shared by work resources (pgtasks, pgbackups, pgupgrades). */
export const workStatus = z.strictObject({
  phase: workPhase.optional(),
  message: z.string().optional(),
  progress: z.int().min(0).max(100).optional().describe('percent done'),
  startTime: z.string().optional(),
  completionTime: z.string().optional(),
  observedGeneration: z.int().min(0).optional(),
  conditions: conditions.optional(),
});
