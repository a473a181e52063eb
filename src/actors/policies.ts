/**
 * Policy runs: one PolicyActor per apply-policy pgtask, and the tasks of `spec.policies`: once a cluster is
 * Ready, each listed policy it has not had yet gets one task `<cluster>-policy-<policy>` (whoever created the
 * cluster: pgo or kubectl). A task of spec.policies that failed is not made again (delete it to retry).
 */
import type { PgClusterResource } from '../crd/types.ts';
import { describeError } from '../k8s/custom.ts';
import { PolicyActor, isApplied, policyTask, type PolicyDeps } from './policy.ts';
import { TaskActors } from './task-actors.ts';

/** Name of the task that applies `policy` of a cluster's spec.policies. */
export const specPolicyTask = (cluster: string, policy: string) => `${cluster}-policy-${policy}`;

/** Runs the policy actors and asks for the runs of spec.policies. */
export class Policies extends TaskActors<PolicyActor> {
  /** Tasks of spec.policies already asked for (by this operator). */
  private readonly asked = new Set<string>();

  constructor(private readonly deps: PolicyDeps) {
    super('apply-policy', (task) => new PolicyActor(task, deps));
  }

  /** A pgcluster changed: once it is Ready, asks for the runs of its spec.policies not applied yet. */
  offerCluster(cluster: PgClusterResource): void {
    if (cluster.status?.phase !== 'Ready' || cluster.metadata.deletionTimestamp) return;
    const { namespace, name } = cluster.metadata;
    for (const policy of cluster.spec.policies ?? []) {
      const task = specPolicyTask(name, policy);
      const key = `${namespace}/${task}`;
      if (isApplied(cluster, policy) || cluster.status.policies?.some((p) => p.name === policy) || this.asked.has(key)) continue;
      this.asked.add(key);
      this.deps.tasks.createIfAbsent(policyTask(namespace, name, policy, task)).catch((err: unknown) => {
        this.asked.delete(key);
        this.deps.log(`${namespace}/${name}: asking for policy ${policy}: ${describeError(err)}`);
      });
    }
  }
}
