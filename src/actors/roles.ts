/** The role labels of a cluster's pods: what puts a pod behind the primary or the replica Service. */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { roleOf, type FailoverIntent, type Role } from '../cluster/failover.ts';
import { LABEL } from '../cluster/names.ts';
import { describeError, httpStatus } from '../k8s/custom.ts';

/** What decides the roles: the machine's latest context. */
export interface RoleContext {
  primary: string;
  fenced: readonly string[];
  failover?: FailoverIntent;
  /** Instances being restored into (out of both Services). */
  restoring?: readonly string[];
  /** The first instance of a cluster made from a data source, until its restore is done. */
  primaryRestoring?: boolean;
}

/**
 * Changes role labels one at a time, each time from the machine's latest context, so a label decided from
 * an older context can never undo a newer one (a failover's relabel racing an observation).
 */
export class RoleLabeller {
  private readonly core: CoreV1Api;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly pods: () => readonly V1Pod[],
    private readonly context: () => RoleContext,
    private readonly log: (line: string) => void,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** Puts each pod's role label where the latest context says it belongs; errors are logged. */
  labelAll(): Promise<void> {
    this.queue = this.queue
      .then(async () => {
        const context = this.context();
        for (const pod of this.pods()) {
          const instance = pod.metadata?.labels?.[LABEL.instance];
          if (!instance) continue;
          const role = roleOf(instance, context);
          const current = pod.metadata?.labels?.[LABEL.role];
          if (current === role) continue;
          // A fenced pod leaves that state only through a failover's relabel step, never straight to primary here.
          if (current === 'fenced' && role === 'primary') {
            this.log(`not relabelling fenced pod ${pod.metadata?.name} as primary`);
            continue;
          }
          await this.patch(pod.metadata!.name!, role);
        }
      })
      .catch((err: unknown) => this.log(`labelling pods: ${describeError(err)}`));
    return this.queue;
  }

  /** Sets one instance's role label (a failover step), in turn with the other label changes; rejects on error. */
  set(instance: string, role: Role): Promise<void> {
    const run = this.queue.then(async () => {
      for (const pod of this.pods()) {
        if (pod.metadata?.labels?.[LABEL.instance] === instance) await this.patch(pod.metadata.name!, role);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async patch(pod: string, role: Role): Promise<void> {
    try {
      await this.core.patchNamespacedPod(
        { namespace: this.namespace, name: pod, body: { metadata: { labels: { [LABEL.role]: role } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      if (httpStatus(err) !== 404) throw err; // a pod that is gone needs no label
    }
  }
}
