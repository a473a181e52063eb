/** Writes a pgcluster's status from its actor's latest snapshot, one write at a time. */
import { isDeepStrictEqual } from 'node:util';
import type { PgClusterResource } from '../crd/types.ts';
import type { CustomResources } from '../k8s/custom.ts';

interface Waiter {
  generation: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Serialised status writes. Each write computes the status when it runs (not when it was asked for), and a
 * request during a write causes one more write after it, so an older state can never overwrite a newer
 * one (a stale failover intent would make a restarted operator resume a finished failover). A caller waits
 * only for the first write that started after its request, not for every write asked for after it.
 */
export class StatusWriter {
  private running = false;
  /** Requests so far, and the latest request covered by a finished write. */
  private requested = 0;
  private written = 0;
  private waiters: Waiter[] = [];

  constructor(
    private readonly clusters: CustomResources<PgClusterResource>,
    private readonly cluster: () => PgClusterResource,
    private readonly compute: (current: PgClusterResource['status']) => PgClusterResource['status'],
  ) {}

  /** Resolves once the state of this moment (or a newer one) is written; rejects when that write failed. */
  write(): Promise<void> {
    const generation = ++this.requested;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ generation, resolve, reject }));
    if (!this.running) void this.drain();
    return done;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.written < this.requested) {
        const generation = this.requested;
        try {
          await this.writeOnce();
          this.written = generation;
          this.settle(generation, (w) => w.resolve());
        } catch (err) {
          // Those who asked before this write hear of its failure; later requests get their own try.
          this.written = generation;
          this.settle(generation, (w) => w.reject(err));
        }
      }
    } finally {
      this.running = false;
    }
  }

  private settle(generation: number, how: (w: Waiter) => void): void {
    const due = this.waiters.filter((w) => w.generation <= generation);
    this.waiters = this.waiters.filter((w) => w.generation > generation);
    due.forEach(how);
  }

  private async writeOnce(): Promise<void> {
    const { metadata, status } = this.cluster();
    const next = (current: PgClusterResource['status']) => JSON.parse(JSON.stringify(this.compute(current))) as PgClusterResource['status'];
    if (isDeepStrictEqual(next(status), status)) return; // the informer's copy is already current
    await this.clusters.updateStatus(metadata.namespace, metadata.name, (current) => next(current.status));
  }
}
