/** The labels of a cluster's pods: the role (what puts a pod behind the primary or the replica Service) and the user's. */
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
  /** The cluster's spec.userLabels: set on running pods, not in their template, so a label rolls no pod. */
  userLabels?: Record<string, string>;
}

/** Annotation on a pod naming the user labels the operator put on it (so a removed one is taken off). */
export const USER_LABELS_ANNOTATION = 'pg-operator.dev/user-labels';

/**
 * The merge patch that gives `pod` role `role` and exactly the user labels `wanted` (null removes a label),
 * or undefined when it has them.
 */
export function podLabelPatch(pod: V1Pod, role: Role | undefined, wanted: Record<string, string> = {}): { metadata: { labels: Record<string, string | null>; annotations?: Record<string, string> } } | undefined {
  const current = pod.metadata?.labels ?? {};
  const labels: Record<string, string | null> = {};
  if (role && current[LABEL.role] !== role) labels[LABEL.role] = role;
  for (const [k, v] of Object.entries(wanted)) if (current[k] !== v) labels[k] = v;
  const had = (pod.metadata?.annotations?.[USER_LABELS_ANNOTATION] ?? '').split(',').filter(Boolean);
  for (const k of had) if (!(k in wanted) && k in current) labels[k] = null;
  const keys = Object.keys(wanted).sort().join(',');
  const annotations = keys === had.join(',') ? undefined : { [USER_LABELS_ANNOTATION]: keys };
  if (!Object.keys(labels).length && !annotations) return undefined;
  return { metadata: { labels, ...(annotations && { annotations }) } };
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
          let role: Role | undefined = roleOf(instance, context);
          // A fenced pod leaves that state only through a failover's relabel step, never straight to primary here.
          if (pod.metadata?.labels?.[LABEL.role] === 'fenced' && role === 'primary') {
            this.log(`not relabelling fenced pod ${pod.metadata?.name} as primary`);
            role = undefined;
          }
          const patch = podLabelPatch(pod, role, context.userLabels);
          if (patch) await this.patch(pod.metadata!.name!, patch);
        }
      })
      .catch((err: unknown) => this.log(`labelling pods: ${describeError(err)}`));
    return this.queue;
  }

  /** Sets one instance's role label (a failover step), in turn with the other label changes; rejects on error. */
  set(instance: string, role: Role): Promise<void> {
    const run = this.queue.then(async () => {
      for (const pod of this.pods()) {
        if (pod.metadata?.labels?.[LABEL.instance] === instance) await this.patch(pod.metadata.name!, { metadata: { labels: { [LABEL.role]: role } } });
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async patch(pod: string, body: object): Promise<void> {
    try {
      await this.core.patchNamespacedPod(
        { namespace: this.namespace, name: pod, body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      if (httpStatus(err) !== 404) throw err; // a pod that is gone needs no label
    }
  }
}
