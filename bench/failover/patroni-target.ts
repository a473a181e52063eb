/** Targets `patroni-default` and `patroni-tuned`: a 3-member Patroni cluster from bench/patroni/manifests.ts. */
import { randomBytes } from 'node:crypto';
import type { LocalCluster } from '../../tests/harness/cluster.ts';
import { deleteNamespace } from '../../tests/harness/cluster.ts';
import { PATRONI_CONTAINER, patroniLabels, patroniManifests, primaryServiceName, type PatroniSettings } from '../patroni/manifests.ts';
import { applyAll, ensureNamespace } from './k8s.ts';
import type { Credentials, Target } from './target.ts';

/** A Patroni cluster `name` with `settings` in namespace `bench-<name>-<random>`. */
export function patroniTarget(name: string, settings: PatroniSettings): Target {
  const scope = 'pg';
  const namespace = `bench-${name}-${randomBytes(2).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  return {
    name,
    namespace,
    primaryService: primaryServiceName(scope),
    podSelector: Object.entries(patroniLabels(scope)).map(([k, v]) => `${k}=${v}`).join(','),
    container: PATRONI_CONTAINER,
    members: 3,
    async deploy(c: LocalCluster) {
      await ensureNamespace(c, namespace);
      await applyAll(c, patroniManifests(namespace, scope, settings, password));
    },
    credentials: (): Promise<Credentials> => Promise.resolve({ user: 'postgres', password, database: 'postgres' }),
    teardown: (c: LocalCluster) => deleteNamespace(c, namespace, 180_000),
  };
}
