/**
 * The actor of one policy run (a pgtask of type apply-policy; machine in src/machines/policy.ts): the
 * pgpolicy's SQL in one transaction on the cluster's primary, as the superuser, in the policy's database
 * (the cluster's when unset). The transaction's id is written to the task before the SQL runs, so a new
 * operator tells whether it committed before running it again; the applied policy is then recorded on the
 * cluster (label `<policy>=pgpolicy`, status.policies) and in the pgpolicy (appliedTo).
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { createActor, fromPromise, type Actor } from 'xstate';
import { LABEL, clusterNames } from '../cluster/names.ts';
import { POLICY_LABEL_VALUE, POLICY_MESSAGES, type PolicyApplyStatus } from '../crd/policy.ts';
import { API_VERSION } from '../crd/resources.ts';
import type { PgClusterResource, PgPolicyResource, PgTaskResource } from '../crd/types.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { PolicyRefused, policyMachine } from '../machines/policy.ts';
import { dropConnection, superuserConfig } from '../pg/instance.ts';
import { PolicyFailed, runPolicy, transactionStatus } from '../pg/policies.ts';
import { secretValue } from './user.ts';
import { MachineTaskActor, endedStatus } from './task-actors.ts';

/** What a policy run needs. */
export interface PolicyDeps {
  kc: KubeConfig;
  tasks: CustomResources<PgTaskResource>;
  clusters: CustomResources<PgClusterResource>;
  policies: CustomResources<PgPolicyResource>;
  events: EventRecorder;
  cluster(namespace: string, name: string): PgClusterResource | undefined;
  log(line: string): void;
}

/** Whether `policy` is recorded as applied to `cluster`. */
export const isApplied = (cluster: PgClusterResource, policy: string) => cluster.metadata.labels?.[policy] === POLICY_LABEL_VALUE;

/** The apply-policy pgtask `name` that runs `policy` on `cluster` (from `pgo apply` and from spec.policies). */
export const policyTask = (namespace: string, cluster: string, policy: string, name: string): PgTaskResource => ({
  apiVersion: API_VERSION,
  kind: 'PGTask',
  metadata: { name, namespace, labels: { [LABEL.cluster]: cluster } },
  spec: { type: 'apply-policy', clusterName: cluster, policy: { name: policy } },
});

/** The actor of one apply-policy task. */
export class PolicyActor extends MachineTaskActor<typeof policyMachine> {
  protected readonly actor: Actor<typeof policyMachine>;
  private readonly core: CoreV1Api;
  private readonly policyName: string | undefined;
  private policy?: PgPolicyResource;
  /** The transaction the SQL runs (or ran) in. */
  private xid?: string;
  private sqlstate?: string;

  constructor(
    private readonly task: PgTaskResource,
    private readonly deps: PolicyDeps,
  ) {
    super();
    this.core = deps.kc.makeApiClient(CoreV1Api);
    this.policyName = task.spec.policy?.name;
    this.xid = task.status?.policy?.xid;
    const key = `${task.metadata.namespace}/${task.metadata.name}`;
    const effect = <T>(work: () => Promise<T>) => fromPromise<T>(({ signal }) => this.unlessStopped(signal, work));
    const machine = policyMachine.provide({
      actors: { check: effect(() => this.check()), apply: effect(() => this.apply()), resolve: effect(() => this.resolve()), store: effect(() => this.store()) },
    });
    this.actor = createActor(machine, { input: { step: task.status?.policy?.step } });
    this.actor.subscribe((s) => {
      if (s.status === 'done') void this.finish(s.value === 'succeeded', s.context.error).catch((err: unknown) => deps.log(`${key}: ${describeError(err)}`));
    });
  }

  private get namespace() {
    return this.task.metadata.namespace;
  }

  private cluster(): PgClusterResource {
    const c = this.deps.cluster(this.namespace, this.task.spec.clusterName);
    if (!c) throw new PolicyRefused(`pgcluster ${this.task.spec.clusterName} does not exist`);
    return c;
  }

  private async loadPolicy(): Promise<PgPolicyResource> {
    if (!this.policyName) throw new PolicyRefused('an apply-policy pgtask needs spec.policy.name');
    try {
      return (this.policy = await this.deps.policies.get(this.namespace, this.policyName));
    } catch (err) {
      if (httpStatus(err) === 404) throw new PolicyRefused(POLICY_MESSAGES.noPolicy(this.namespace, this.policyName));
      throw err;
    }
  }

  /** The primary's address and the superuser's password; an Error (tried again) while there is no ready primary. */
  private async primary(): Promise<pg.ClientConfig> {
    const c = this.cluster();
    const primary = c.status?.instances?.find((i) => i.role === 'primary' && i.ready && i.podIP);
    if (!primary) throw new Error(POLICY_MESSAGES.noPrimary(c.metadata.name));
    const password = await secretValue(this.core, this.namespace, clusterNames(c.metadata.name).superuserSecret, 'password');
    if (password === undefined) throw new Error(`cluster ${c.metadata.name} has no superuser Secret yet`);
    return superuserConfig({ host: primary.podIP!, port: c.spec.port ?? 5432, password }, 10_000);
  }

  /** A connection to the primary, dropped (the server rolls back what it runs) when the actor stops. */
  private async connect(database?: string): Promise<pg.Client> {
    const client = new pg.Client({ ...(await this.primary()), ...(database ? { database } : {}), application_name: `pg-operator ${this.task.metadata.name}`.slice(0, 63) });
    client.on('error', () => undefined); // a dropped connection surfaces through the pending query
    const drop = () => dropConnection(client);
    this.abort.signal.addEventListener('abort', drop, { once: true });
    client.once('end', () => this.abort.signal.removeEventListener('abort', drop));
    await client.connect();
    return client;
  }

  private async check(): Promise<void> {
    await this.loadPolicy();
    const c = this.cluster();
    if (isApplied(c, this.policyName!)) throw new PolicyRefused(POLICY_MESSAGES.applied(this.policyName!, c.metadata.name));
    await this.primary();
  }

  private async apply(): Promise<void> {
    const policy = this.policy ?? (await this.loadPolicy());
    const client = await this.connect(policy.spec.database ?? this.cluster().spec.database);
    try {
      await runPolicy(client, policy.spec.sql, async (xid) => {
        this.xid = xid;
        await this.record('applying');
      });
    } catch (err) {
      if (!(err instanceof PolicyFailed)) throw err;
      this.sqlstate = err.sqlstate;
      throw new PolicyRefused(err.message);
    } finally {
      dropConnection(client, 2000);
    }
  }

  /** Whether the recorded transaction committed; one still open (a session of a dead operator) is ended first. */
  private async resolve(): Promise<boolean> {
    if (!this.xid) return false;
    const client = await this.connect();
    try {
      let status: string | undefined;
      try {
        status = await transactionStatus(client, this.xid);
      } catch (err) {
        // 22023: the id is ahead of this server (a new primary the transaction never reached): never committed here.
        if ((err as { code?: string }).code === '22023') return false;
        throw err;
      }
      if (status === 'committed') return true;
      if (status === 'aborted') return false;
      if (status === 'in progress') {
        await client.query('select pg_terminate_backend(pid) from pg_stat_activity where backend_xid::text = $1', [this.xid]);
        throw new Error(`transaction ${this.xid} of this policy run was still open; its session was ended`);
      }
      throw new PolicyRefused(`PostgreSQL no longer knows whether transaction ${this.xid} committed: check the database, then label the cluster ${this.policyName}=${POLICY_LABEL_VALUE} or run the policy again`);
    } finally {
      dropConnection(client, 2000);
    }
  }

  private async record(step: NonNullable<PolicyApplyStatus['step']>): Promise<void> {
    await this.deps.tasks.updateStatus(this.namespace, this.task.metadata.name, (t) => ({
      ...t.status,
      phase: 'Running',
      message: `policy ${this.policyName}: ${step}`,
      startTime: t.status?.startTime ?? new Date().toISOString(),
      policy: { ...t.status?.policy, step, ...(this.xid ? { xid: this.xid } : {}) },
    }));
  }

  private async store(): Promise<void> {
    await this.record('recording');
    const policy = this.policyName!;
    const cluster = this.task.spec.clusterName;
    const task = this.task.metadata.name;
    const time = new Date().toISOString();
    await this.deps.clusters.updateStatus(this.namespace, cluster, (c) => ({
      ...c.status,
      policies: [...(c.status?.policies ?? []).filter((p) => p.name !== policy), { name: policy, task, time }],
    }));
    await this.deps.clusters.mutate(this.namespace, cluster, (c) => {
      c.metadata.labels = { ...c.metadata.labels, [policy]: POLICY_LABEL_VALUE };
    });
    await this.deps.policies.updateStatus(this.namespace, policy, (p) => ({ ...p.status, appliedTo: [...new Set([...(p.status?.appliedTo ?? []), cluster])].sort() })).catch((err: unknown) => {
      if (httpStatus(err) !== 404) throw err; // the policy deleted since: the cluster's record is what counts
    });
  }

  private async finish(ok: boolean, error: string | undefined): Promise<void> {
    const what = `policy ${this.policyName ?? '?'} on ${this.task.spec.clusterName}`;
    const message = ok ? `${what}: applied` : `${what} failed: ${error}`;
    await this.deps.tasks.updateStatus(this.namespace, this.task.metadata.name, (t) => ({
      ...endedStatus(t.status, ok, message),
      policy: { ...t.status?.policy, ...(ok ? { step: 'done' as const } : {}), ...(this.sqlstate ? { sqlstate: this.sqlstate } : {}) },
    }));
    const cluster = this.deps.cluster(this.namespace, this.task.spec.clusterName);
    if (cluster) this.deps.events.record(cluster, ok ? 'Normal' : 'Warning', ok ? 'PolicyApplied' : 'PolicyFailed', `pgtask ${this.task.metadata.name}: ${message}`);
  }
}
