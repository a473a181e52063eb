/**
 * Generated inputs for the boundaries (fast-check): pgcluster objects for the kube-apiserver and request
 * bodies for the API, each a valid one or a mutation of one (wrong types, out-of-range numbers, long and
 * odd names, control characters, unknown fields). Shared by the apiserver-tier tests and bench/fuzz.ts.
 */
import fc from 'fast-check';
import { MAX_CLUSTER_NAME, MAX_REPLICAS, PORT_MAX, PORT_MIN } from '../../src/crd/limits.ts';

const nameChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split(''), 'A', '.', '_', ' ');
/** A name: mostly valid, sometimes too long, upper-case, dotted or starting with a digit. */
export const nameArb = fc.oneof(
  { weight: 12, arbitrary: fc.stringMatching(/^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$/) },
  { weight: 1, arbitrary: fc.string({ unit: nameChars, minLength: 1, maxLength: MAX_CLUSTER_NAME + 25 }) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_CLUSTER_NAME - 2, max: MAX_CLUSTER_NAME + 3 }).map((n) => 'x'.repeat(n)) },
);

const odd = fc.oneof(fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null), fc.double({ noNaN: true }), fc.array(fc.integer(), { maxLength: 2 }));
// Valid values far more often than mutations, so that about half of all inputs are accepted.
// An unknown field, now and then (never null: the API server drops null known fields but refuses unknown ones).
const unknown = fc.option(fc.oneof(fc.string({ maxLength: 6 }), fc.boolean(), fc.integer()), { freq: 8, nil: undefined });
const intish = (min: number, max: number) =>
  fc.oneof({ weight: 24, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.constantFrom(min - 1, max + 1) }, { weight: 1, arbitrary: fc.integer() }, { weight: 1, arbitrary: odd });
const quantityArb = fc.oneof(
  { weight: 16, arbitrary: fc.tuple(fc.integer({ min: 0, max: 4096 }), fc.constantFrom('', 'm', 'Ki', 'Mi', 'Gi', 'k', 'M', 'G')).map(([n, u]) => `${n}${u}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const valueChars = fc.oneof({ weight: 60, arbitrary: fc.constantFrom(...'abcMB0123 ,.\'"='.split('')) }, { weight: 1, arbitrary: fc.constantFrom('\n', '\t', '\u0000', '\u007f', '\r') });
const parametersArb = fc.dictionary(
  fc.oneof({ weight: 16, arbitrary: fc.constantFrom('work_mem', 'max_connections', 'shared_buffers', 'pg_stat_statements.max', 'log_min_duration_statement') }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }),
  fc.oneof({ weight: 16, arbitrary: fc.string({ unit: valueChars, maxLength: 12 }) }, { weight: 1, arbitrary: odd }),
  { maxKeys: 4 },
);
const resourcesArb = fc.record({ requests: fc.record({ cpu: quantityArb, memory: quantityArb }, { requiredKeys: [] }), limits: fc.record({ cpu: quantityArb, memory: quantityArb }, { requiredKeys: [] }) }, { requiredKeys: [] });

const labelsArb = fc.dictionary(
  fc.oneof({ weight: 12, arbitrary: fc.constantFrom('env', 'team', 'example.com/owner') }, { weight: 1, arbitrary: fc.constantFrom('pg-operator.dev/role', 'app.kubernetes.io/managed-by', 'a b', '-x') }),
  fc.oneof({ weight: 12, arbitrary: fc.stringMatching(/^[a-z0-9]{0,8}$/) }, { weight: 1, arbitrary: fc.string({ maxLength: 70 }) }),
  { maxKeys: 2 },
);

/** A pgcluster spec, valid or mutated. */
export const specArb = fc.record(
  {
    replicas: intish(0, MAX_REPLICAS),
    port: intish(PORT_MIN, PORT_MAX),
    storage: fc.record({ primary: fc.record({ size: quantityArb }) }),
    resources: resourcesArb,
    parameters: parametersArb,
    syncReplication: fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: odd }),
    failoverDelaySeconds: intish(0, 3600),
    podAntiAffinity: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('preferred', 'required', 'disabled') }, { weight: 1, arbitrary: fc.string({ maxLength: 5 }) }),
    userLabels: labelsArb,
    unknownField: unknown,
  },
  { requiredKeys: [] },
);

/** A `pgo create cluster` request body, valid or mutated. */
export const createBodyArb = fc.record(
  {
    name: nameArb,
    replicaCount: intish(0, MAX_REPLICAS),
    pvcSize: quantityArb,
    cpu: quantityArb,
    cpuLimit: quantityArb,
    memory: quantityArb,
    memoryLimit: quantityArb,
    parameters: parametersArb,
    labels: labelsArb,
    syncReplication: fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: odd }),
    sneaky: unknown,
  },
  { requiredKeys: ['name'] },
);

/** A pgtask spec (failover and switchover requests, and others), valid or mutated. */
export const taskSpecArb = fc.record(
  {
    type: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('failover', 'switchover', 'reload') }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
    clusterName: nameArb,
    target: fc.oneof({ weight: 8, arbitrary: nameArb }, { weight: 1, arbitrary: odd }),
    unknownField: unknown,
  },
  { requiredKeys: ['type', 'clusterName'] },
);

/** The seed of the fixed CI run; bench/fuzz.ts takes others. */
export const FUZZ_SEED = Number(process.env.PGO_FUZZ_SEED ?? 20261201);
