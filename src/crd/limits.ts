/**
 * Every limit of the custom resources, defined once. Each limit is a zod check with its message and, where
 * the API server must enforce it at admission, the same rule in CEL with the same message: the CRD
 * generator writes the CEL rules as `x-kubernetes-validations`, the API and pgo parse with the zod schemas,
 * so `kubectl apply`, the API and pgo refuse a bad value with one message.
 */
import { z } from 'zod';

/** A CEL validation rule of a CRD schema (`x-kubernetes-validations`). */
export interface CelRule {
  rule: string;
  message: string;
}

/** The most replicas a cluster may be created with or scaled by in one request. */
export const MAX_REPLICAS = 9;

/** The most instances (primary and replicas) of one cluster: bounds the objects one spec can create. */
export const MAX_INSTANCES = 16;

/** Longest Kubernetes name that is also a label value, Service name or DNS label. */
export const DNS_LABEL_MAX = 63;

/**
 * Suffixes the operator appends to a cluster's name for objects whose names must stay DNS labels (Services,
 * label values): the replica Service, initial replicas (`-xxxx`) and the pgBackRest repository host.
 */
export const CLUSTER_NAME_SUFFIXES = ['-replica', '-xxxx', '-backrest-shared-repo'];

/** Suffixes appended to an instance's name (its volumes). */
export const INSTANCE_NAME_SUFFIXES = ['-pgwal', '-pgbr'];

const longest = (suffixes: string[]) => Math.max(...suffixes.map((s) => s.length));

/** Longest pgcluster name: room for every derived name. */
export const MAX_CLUSTER_NAME = DNS_LABEL_MAX - longest(CLUSTER_NAME_SUFFIXES);

/** Longest pgreplica (instance) name. */
export const MAX_INSTANCE_NAME = DNS_LABEL_MAX - longest(INSTANCE_NAME_SUFFIXES);

/** Most PostgreSQL parameters in one spec, and the longest value. */
export const MAX_PARAMETERS = 200;
export const MAX_PARAMETER_VALUE = 4096;

/** Ports PostgreSQL may listen on: it runs unprivileged, so not below 1024. */
export const PORT_MIN = 1024;
export const PORT_MAX = 65535;

/** Most user labels on one resource. */
export const MAX_USER_LABELS = 64;

// Labels under these prefixes are the operator's own (selection of primaries, ownership): a user
// label must not be able to move a pod into the primary Service or hide an object from the operator.
const reservedPrefixes = ['pg-operator.dev/', 'app.kubernetes.io/'];
const labelKeyRe = '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
const labelValueRe = '^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$';
const LABEL_KEY_MAX = 317; // a 253-character prefix, '/', a 63-character name

const dnsLabelRe = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const dns1035Re = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
const parameterNameRe = '^[a-z_][a-z0-9_]*(\\.[a-z_][a-z0-9_]*)?$';
// Control characters (newline, tab, NUL, ...) would break the generated postgresql.conf.
const controlRe = '[\\x00-\\x1f\\x7f]';
/** A regular expression as a CEL string literal (CEL decodes backslash escapes once). */
const celString = (re: string) => `'${re.replaceAll('\\', '\\\\')}'`;

/** The messages of the limits, shared by the zod checks and the CEL rules. */
export const LIMIT_MESSAGES = {
  clusterName: `must be a name of at most ${MAX_CLUSTER_NAME} characters, lower-case letters, digits and '-', starting with a letter (derived names such as <name>-backrest-shared-repo must fit in ${DNS_LABEL_MAX}), e.g. 'hippo'`,
  instanceName: `must be a name of at most ${MAX_INSTANCE_NAME} characters, lower-case letters, digits and '-' (derived names such as <name>-pgwal must fit in ${DNS_LABEL_MAX}), e.g. 'hippo-abcd'`,
  replicas: `must be between 0 and ${MAX_REPLICAS}; add more replicas later with pgreplicas (pgo scale)`,
  replicaCount: `must be between 1 and ${MAX_REPLICAS}`,
  instances: `a cluster has at most ${MAX_INSTANCES} instances (the primary and ${MAX_INSTANCES - 1} replicas): delete a replica first (pgo scaledown)`,
  port: `must be a port between ${PORT_MIN} and ${PORT_MAX} (PostgreSQL runs unprivileged)`,
  parameterName: "must be a PostgreSQL parameter name, e.g. 'max_connections' or 'pg_stat_statements.max'",
  parameterValue: `must be at most ${MAX_PARAMETER_VALUE} characters without control characters (newline, tab, ...)`,
  parameterCount: `must have at most ${MAX_PARAMETERS} parameters`,
  size: "must be a positive storage size, e.g. '1Gi'",
  labelKey: "must be a label key, e.g. 'env' or 'example.com/team'",
  labelValue: "must be a label value of at most 63 characters: letters, digits, '-', '_', '.', e.g. 'prod'",
  labelReserved: `must not use a reserved prefix (${reservedPrefixes.join(', ')} belong to the operator)`,
  labelCount: `must have at most ${MAX_USER_LABELS} labels`,
  limitBelowRequest: 'the limit must not be below the request',
} as const;

/** Attaches CEL rules (same messages as the zod checks) and other CRD-only keywords to a schema. */
export function cel<T extends z.ZodType>(schema: T, rules: CelRule[], extra: Record<string, unknown> = {}): T {
  return schema.meta({ ...extra, 'x-kubernetes-validations': rules });
}

/** A pgcluster name: a DNS-1035 label short enough for every derived name. */
export const clusterName = z
  .string()
  .min(1, LIMIT_MESSAGES.clusterName)
  .max(MAX_CLUSTER_NAME, LIMIT_MESSAGES.clusterName)
  .regex(new RegExp(dns1035Re), LIMIT_MESSAGES.clusterName);

/** A pgreplica (instance) name. */
export const instanceName = z
  .string()
  .min(1, LIMIT_MESSAGES.instanceName)
  .max(MAX_INSTANCE_NAME, LIMIT_MESSAGES.instanceName)
  .regex(new RegExp(dnsLabelRe), LIMIT_MESSAGES.instanceName);

/** CEL rules on `metadata.name` of a resource, from the same limits. */
export const nameRules = {
  cluster: [{ rule: `size(self.metadata.name) <= ${MAX_CLUSTER_NAME} && self.metadata.name.matches('${dns1035Re}')`, message: LIMIT_MESSAGES.clusterName }],
  instance: [{ rule: `size(self.metadata.name) <= ${MAX_INSTANCE_NAME} && self.metadata.name.matches('${dnsLabelRe}')`, message: LIMIT_MESSAGES.instanceName }],
} satisfies Record<string, CelRule[]>;

/** An integer in [min, max], checked by zod and CEL with one message (not JSON Schema bounds, whose message differs). */
function intBetween(min: number, max: number, message: string) {
  return cel(z.int().refine((n) => n >= min && n <= max, message), [{ rule: `self >= ${min} && self <= ${max}`, message }]);
}

/** Replicas at cluster creation. */
export const replicas = intBetween(0, MAX_REPLICAS, LIMIT_MESSAGES.replicas);

/** The replicas one `pgo scale` adds. */
export const replicaCount = intBetween(1, MAX_REPLICAS, LIMIT_MESSAGES.replicaCount);

/** PostgreSQL's port. */
export const port = intBetween(PORT_MIN, PORT_MAX, LIMIT_MESSAGES.port);

/** PostgreSQL settings; values are strings as in postgresql.conf (e.g. `max_connections: "200"`). */
export const pgParameters = cel(
  z
    // Keys are checked on the record, not by a key schema: zod reports a bad key only as "Invalid key in record".
    .record(
      z.string(),
      z.string().max(MAX_PARAMETER_VALUE, LIMIT_MESSAGES.parameterValue).refine((v) => !new RegExp(controlRe).test(v), LIMIT_MESSAGES.parameterValue),
    )
    .refine((p) => Object.keys(p).every((k) => k.length <= DNS_LABEL_MAX * 2 && new RegExp(parameterNameRe).test(k)), LIMIT_MESSAGES.parameterName)
    .refine((p) => Object.keys(p).length <= MAX_PARAMETERS, LIMIT_MESSAGES.parameterCount),
  [
    { rule: `self.size() <= ${MAX_PARAMETERS}`, message: LIMIT_MESSAGES.parameterCount },
    { rule: `self.all(k, size(k) <= ${DNS_LABEL_MAX * 2} && k.matches(${celString(parameterNameRe)}))`, message: LIMIT_MESSAGES.parameterName },
    { rule: `self.all(k, size(self[k]) <= ${MAX_PARAMETER_VALUE} && !self[k].matches(${celString(controlRe)}))`, message: LIMIT_MESSAGES.parameterValue },
  ],
  // Bounds the cost of the rules above for the API server's CEL budget.
  { maxProperties: MAX_PARAMETERS },
);

const units: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** The value of a Kubernetes quantity (`1Gi` → 1073741824, `250m` → 0.25); NaN when it is not one. */
export function quantityValue(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q);
  return m ? Number(m[1]) * units[m[2] ?? '']! : NaN;
}

const validLabelKey = (k: string) => k.length <= LABEL_KEY_MAX && new RegExp(labelKeyRe).test(k);
const reserved = (k: string) => reservedPrefixes.some((p) => k.startsWith(p));

/** A Kubernetes label key the user may set. */
export const labelKey = z
  .string()
  .refine(validLabelKey, LIMIT_MESSAGES.labelKey)
  .refine((k) => !reserved(k), LIMIT_MESSAGES.labelReserved);

/** A Kubernetes label value. */
export const labelValue = z.string().max(DNS_LABEL_MAX, LIMIT_MESSAGES.labelValue).regex(new RegExp(labelValueRe), LIMIT_MESSAGES.labelValue);

/** Labels the user puts on every object of a cluster or replica: valid, and not the operator's own. */
export const userLabels = cel(
  z
    .record(z.string(), z.string().max(DNS_LABEL_MAX, LIMIT_MESSAGES.labelValue))
    .refine((l) => Object.keys(l).every(validLabelKey), LIMIT_MESSAGES.labelKey)
    .refine((l) => !Object.keys(l).some(reserved), LIMIT_MESSAGES.labelReserved)
    .refine((l) => Object.values(l).every((v) => new RegExp(labelValueRe).test(v)), LIMIT_MESSAGES.labelValue)
    .refine((l) => Object.keys(l).length <= MAX_USER_LABELS, LIMIT_MESSAGES.labelCount),
  [
    { rule: `self.all(k, size(k) <= ${LABEL_KEY_MAX} && k.matches(${celString(labelKeyRe)}))`, message: LIMIT_MESSAGES.labelKey },
    { rule: `self.all(k, ${reservedPrefixes.map((p) => `!k.startsWith('${p}')`).join(' && ')})`, message: LIMIT_MESSAGES.labelReserved },
    { rule: `self.all(k, self[k].matches(${celString(labelValueRe)}))`, message: LIMIT_MESSAGES.labelValue },
    { rule: `self.size() <= ${MAX_USER_LABELS}`, message: LIMIT_MESSAGES.labelCount },
  ],
  { maxProperties: MAX_USER_LABELS },
);
