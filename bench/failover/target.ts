/** What the failover benchmark needs from a system under test: a cluster with a primary Service. */
import type { LocalCluster } from '../../tests/harness/cluster.ts';
import type { OperatorTimes } from './phases.ts';

/** Credentials of the writer and of the benchmark's own queries. */
export interface Credentials {
  user: string;
  password: string;
  database: string;
}

/** One system under test: a 3-member PostgreSQL cluster behind a primary Service. */
export interface Target {
  /** Name in the table, e.g. `patroni-default`. */
  readonly name: string;
  /** Namespace the target lives in (its own). */
  readonly namespace: string;
  /** Service that clients write through. */
  readonly primaryService: string;
  /** Label selector of the target's database pods. */
  readonly podSelector: string;
  /** Container of a database pod that runs PostgreSQL. */
  readonly container: string;
  /** Number of members (primary + replicas). */
  readonly members: number;
  /** Creates the cluster (idempotent). */
  deploy(c: LocalCluster): Promise<void>;
  /** Superuser credentials. */
  credentials(c: LocalCluster): Promise<Credentials>;
  /** Deletes everything the target created. */
  teardown(c: LocalCluster): Promise<void>;
  /** The target's own record of the first failover decided at or after `since` (epoch ms), when it keeps one. */
  failoverTimes?(c: LocalCluster, since: number): Promise<OperatorTimes | undefined>;
}
