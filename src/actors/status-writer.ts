/** Writes a pgcluster's status from its actor's latest snapshot, one write at a time. */
import { isDeepStrictEqual } from 'node:util';
import type { PgClusterResource } from '../crd/types.ts';
import type { CustomResources } from '../k8s/custom.ts';

/**
 * Serialised status writes. Each write computes the status when it runs (not when it was asked for), and a
 * request during a write causes one more write after it, so an older state can never overwrite a newer
 * one (a stale failover intent would make a restarted operator resume a finished failover).
 */
export class StatusWriter {
  private running?: Promise<void>;
  private dirty = false;

  constructor(
    private readonly clusters: CustomResources<PgClusterResource>,
    private readonly cluster: () => PgClusterResource,
    private readonly compute: (current: PgClusterResource['status']) => PgClusterResource['status'],
  ) {}

  /** Resolves once the state of this moment (or a newer one) is written; rejects when a write failed. */
  write(): Promise<void> {
    this.dirty = true;
    this.running ??= (async () => {
      try {
        while (this.dirty) {
          this.dirty = false;
          await this.writeOnce();
        }
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async writeOnce(): Promise<void> {
    const { metadata, status } = this.cluster();
    const next = (current: PgClusterResource['status']) => JSON.parse(JSON.stringify(this.compute(current))) as PgClusterResource['status'];
    if (isDeepStrictEqual(next(status), status)) return; // the informer's copy is already current
    await this.clusters.updateStatus(metadata.namespace, metadata.name, (current) => next(current.status));
  }
}
