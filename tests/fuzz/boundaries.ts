/**
 * Sends generated inputs through the real boundaries: pgclusters and pgtasks to the kube-apiserver (CRD
 * schema and CEL rules at admission), request bodies to the API. For every input the zod schemas decide
 * what should happen; any disagreement is recorded. Used by tests/apiserver/fuzz.test.ts and bench/fuzz.ts.
 */
import { CustomObjectsApi } from '@kubernetes/client-node';
import fc from 'fast-check';
import { specFromCreate } from '../../src/api/handlers/clusters.ts';
import { clusterCreateBody } from '../../src/api/schemas.ts';
import { clusterName } from '../../src/crd/limits.ts';
import { pgClusterSpec } from '../../src/crd/pgcluster.ts';
import { pgTaskSpec } from '../../src/crd/pgtask.ts';
import { GROUP, VERSION } from '../../src/crd/resources.ts';
import { httpStatus, describeError } from '../../src/k8s/custom.ts';
import { call, type ApiHarness } from '../harness/api.ts';
import { createBodyArb, nameArb, specArb, taskSpecArb } from './inputs.ts';

/** What happened to the inputs. */
export interface FuzzCounts {
  tried: number;
  rejectedAtAdmission: number;
  rejectedByApi: number;
  accepted: number;
  /** Inputs where the zod schemas and the boundary disagreed, or a rejection said nothing. */
  disagreements: string[];
  /** Accepted pgclusters (namespace/name) and failover pgtasks, for the operator's side of the check. */
  clusters: string[];
  tasks: string[];
}

/** Namespaces the run writes to: admission (kubectl's door) and the API. */
export const FUZZ_NAMESPACES = ['fuzz-k', 'fuzz-a'] as const;

/** The object as the API server stores it: what JSON carries, with null fields dropped as if unset. */
function stored<T>(value: T): T {
  return withoutNulls(JSON.parse(JSON.stringify(value)) as T);
}

function withoutNulls<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)])) as T;
}

async function create(api: CustomObjectsApi, namespace: string, plural: string, body: object): Promise<{ ok: true } | { ok: false; message: string }> {
  try {
    await api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, body, fieldValidation: 'Strict' });
    return { ok: true };
  } catch (err) {
    const code = httpStatus(err);
    if (code !== 422 && code !== 400) throw new Error(`creating ${plural}: ${describeError(err)}`, { cause: err });
    return { ok: false, message: describeError(err) };
  }
}

/** Runs `n` inputs of each kind with `seed`. */
export async function fuzzBoundaries(h: ApiHarness, admin: string, n: number, seed: number): Promise<FuzzCounts> {
  const api = h.cp.kubeconfig.makeApiClient(CustomObjectsApi);
  const counts: FuzzCounts = { tried: 0, rejectedAtAdmission: 0, rejectedByApi: 0, accepted: 0, disagreements: [], clusters: [], tasks: [] };
  const [kns, ans] = FUZZ_NAMESPACES;
  const show = (x: unknown) => JSON.stringify(x).slice(0, 300);
  const judge = (what: string, expected: boolean, got: { ok: boolean; message?: string }) => {
    counts.tried++;
    if (expected !== got.ok) counts.disagreements.push(`${what}: zod ${expected ? 'accepts' : 'refuses'}, the boundary ${got.ok ? 'accepted' : `refused: ${got.message}`}`);
    else if (!got.ok && !got.message?.trim()) counts.disagreements.push(`${what}: refused without a message`);
  };

  for (const [i, [name0, spec]] of fc.sample(fc.tuple(nameArb, specArb), { seed, numRuns: n }).entries()) {
    const name = `${name0}${i}`;
    const expected = clusterName.safeParse(name).success && pgClusterSpec.safeParse(stored(spec)).success;
    const got = await create(api, kns, 'pgclusters', { apiVersion: `${GROUP}/${VERSION}`, kind: 'PGCluster', metadata: { name }, spec });
    judge(`pgcluster ${show(name)} ${show(spec)}`, expected, got);
    if (got.ok) {
      counts.accepted++;
      counts.clusters.push(`${kns}/${name}`);
    } else counts.rejectedAtAdmission++;
  }
  for (const [i, spec] of fc.sample(taskSpecArb, { seed: seed + 1, numRuns: n }).entries()) {
    const expected = pgTaskSpec.safeParse(stored(spec)).success;
    const got = await create(api, kns, 'pgtasks', { apiVersion: `${GROUP}/${VERSION}`, kind: 'PGTask', metadata: { name: `fuzz-task-${i}` }, spec });
    judge(`pgtask ${show(spec)}`, expected, got);
    if (got.ok) {
      counts.accepted++;
      if (spec.type === 'failover' || spec.type === 'switchover') counts.tasks.push(`${kns}/fuzz-task-${i}`);
    } else counts.rejectedAtAdmission++;
  }
  for (const [i, body0] of fc.sample(createBodyArb, { seed: seed + 2, numRuns: n }).entries()) {
    const body = { ...body0, name: typeof body0.name === 'string' ? `${body0.name}${i}` : body0.name };
    const parsed = clusterCreateBody.safeParse(JSON.parse(JSON.stringify(body)));
    const expected = parsed.success && pgClusterSpec.safeParse(specFromCreate(parsed.data)).success;
    const answer = await call(h, 'POST', `/api/v1/namespaces/${ans}/clusters`, admin, body);
    if (answer.status !== 201 && answer.status !== 400) counts.disagreements.push(`API body ${show(body)}: HTTP ${answer.status} ${answer.text.slice(0, 200)}`);
    judge(`API body ${show(body)}`, expected, { ok: answer.status === 201, message: answer.json.error?.message });
    if (answer.status === 201) {
      counts.accepted++;
      counts.clusters.push(`${ans}/${String(body.name)}`);
    } else counts.rejectedByApi++;
  }
  return counts;
}
