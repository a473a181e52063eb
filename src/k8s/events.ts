/** Kubernetes Events about the operator's resources (seen by `kubectl describe` and `pgo watch`). */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { describeError } from './custom.ts';

/** The object an Event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid?: string };
}

/** Records Events; failures are logged, never thrown (an Event is not worth failing a reconcile). */
export class EventRecorder {
  private readonly api: CoreV1Api;
  constructor(
    kc: KubeConfig,
    private readonly log: (line: string) => void = console.error,
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  /** Records `reason` (CamelCase) with a human message. */
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const now = new Date();
    const { namespace, name, uid } = target.metadata;
    this.api
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name, namespace, uid },
          type,
          reason,
          message,
          source: { component: 'pg-operator' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      .catch((err: unknown) => this.log(`recording event ${reason} for ${namespace}/${name}: ${describeError(err)}`));
  }
}
