/**
 * The actor of one change to a PostgreSQL user (a pgtask of type user-update; machine in
 * src/machines/user.ts). The new password comes from the Secret the task names (written by the API), or is
 * generated into the Secret `<task>-password` (owned by the task, so the same password survives a retry);
 * it reaches PostgreSQL as a verifier in one transaction on the primary, then the user's Secret
 * `<cluster>-<user>-secret` (managed users, and any user that has one) gets it, and the task's password
 * Secret is deleted. Every step is recorded in the task first, so an operator killed in the middle finishes
 * the change when it starts again, and the database and the Secret never stay apart.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor, fromPromise, type Actor } from 'xstate';
import { ownerRef, passwordSecret } from '../cluster/builders.ts';
import { clusterNames } from '../cluster/names.ts';
import type { PgClusterResource, PgTaskResource } from '../crd/types.ts';
import { PASSWORD_LENGTH, roleName, type UserChange, type UserChangeStatus } from '../crd/user.ts';
import { describeError, httpStatus, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { userMachine } from '../machines/user.ts';
import { withInstance } from '../pg/instance.ts';
import { generatePassword, passwordVerifier } from '../pg/password.ts';
import { applyUserChange } from '../pg/users.ts';
import { MachineTaskActor, endedStatus } from './task-actors.ts';

/** How long a change waits for the cluster's primary to be ready (an operator that just started, a failover) before it fails. */
const PRIMARY_WAIT_MS = 120_000;

/** What a user change needs. */
export interface UserDeps {
  kc: KubeConfig;
  tasks: CustomResources<PgTaskResource>;
  events: EventRecorder;
  cluster(namespace: string, name: string): PgClusterResource | undefined;
  log(line: string): void;
}

/** Name of the Secret a task generates a password into. */
export const generatedPasswordSecret = (task: PgTaskResource) => `${task.metadata.name}-password`.slice(0, 253);

/** Reads one key of a Secret; undefined when the Secret or the key is missing. */
export async function secretValue(core: CoreV1Api, namespace: string, name: string, key: string): Promise<string | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace, name });
    return s.data?.[key] === undefined ? undefined : Buffer.from(s.data[key], 'base64').toString();
  } catch (err) {
    if (httpStatus(err) === 404) return undefined;
    throw err;
  }
}

/** The actor of one user-update task. */
export class UserActor extends MachineTaskActor<typeof userMachine> {
  protected readonly actor: Actor<typeof userMachine>;
  private readonly core: CoreV1Api;
  private readonly change: UserChange | undefined;
  private password?: string;

  constructor(
    private readonly task: PgTaskResource,
    private readonly deps: UserDeps,
  ) {
    super();
    this.core = deps.kc.makeApiClient(CoreV1Api);
    this.change = task.spec.user;
    const key = `${task.metadata.namespace}/${task.metadata.name}`;
    const machine = userMachine.provide({
      actors: {
        check: fromPromise(({ input, signal }: { input: { resumed: boolean }; signal: AbortSignal }) => this.unlessStopped(signal, () => this.check(input.resumed))),
        record: fromPromise(({ input, signal }: { input: { step: NonNullable<UserChangeStatus['step']> }; signal: AbortSignal }) => this.unlessStopped(signal, () => this.record(input.step))),
        apply: fromPromise(({ input, signal }: { input: { resumed: boolean }; signal: AbortSignal }) => this.unlessStopped(signal, () => this.apply(input.resumed, AbortSignal.any([signal, this.abort.signal])))),
        store: fromPromise(({ signal }) => this.unlessStopped(signal, () => this.store())),
        clean: fromPromise(({ signal }) => this.unlessStopped(signal, () => this.clean())),
      },
    });
    this.actor = createActor(machine, { input: { step: task.status?.user?.step } });
    this.actor.subscribe((s) => {
      if (s.status === 'done') void this.finish(s.value === 'succeeded', s.context.error).catch((err: unknown) => deps.log(`${key}: ${describeError(err)}`));
    });
  }

  private cluster(): PgClusterResource {
    const c = this.deps.cluster(this.task.metadata.namespace, this.task.spec.clusterName);
    if (!c) throw new Error(`pgcluster ${this.task.spec.clusterName} does not exist`);
    return c;
  }

  private get namespace() {
    return this.task.metadata.namespace;
  }

  /** The user's own Secret, `<cluster>-<user>-secret`. */
  private userSecret(): string {
    return clusterNames(this.task.spec.clusterName).userSecret(this.change!.username);
  }

  private async check(resumed: boolean): Promise<void> {
    if (this.task.spec.type !== 'user-update' || !this.change) throw new Error('a user-update pgtask needs spec.user (action, username)');
    const name = roleName.safeParse(this.change.username);
    if (!name.success) throw new Error(`username ${this.change.username}: ${name.error.issues[0]?.message}`);
    this.cluster();
    if (this.change.action === 'delete') return;
    this.password = await this.newPassword(resumed);
  }

  /** The new password: from the task's Secret, generated into one (create, or managed users), or none. */
  private async newPassword(resumed: boolean): Promise<string | undefined> {
    const change = this.change!;
    if (change.passwordSecret) {
      const p = await secretValue(this.core, this.namespace, change.passwordSecret, 'password');
      if (p === undefined) throw new Error(`Secret ${change.passwordSecret} (key password) does not exist: it holds the new password`);
      return p;
    }
    const generated = generatedPasswordSecret(this.task);
    const existing = await secretValue(this.core, this.namespace, generated, 'password');
    if (existing !== undefined) return existing;
    if (change.action === 'update' && change.passwordLength === undefined) return undefined;
    if (!resumed && !change.managed && !(await this.hasUserSecret())) {
      throw new Error('a generated password needs somewhere to be kept: set managed: true, or give passwordSecret');
    }
    const password = generatePassword(change.passwordLength ?? PASSWORD_LENGTH.default);
    const body: V1Secret = { metadata: { name: generated, namespace: this.namespace, ownerReferences: [ownerRef(this.task)] }, stringData: { password } };
    try {
      await this.core.createNamespacedSecret({ namespace: this.namespace, body });
      return password;
    } catch (err) {
      if (httpStatus(err) !== 409) throw err;
      return (await secretValue(this.core, this.namespace, generated, 'password'))!;
    }
  }

  private async hasUserSecret(): Promise<boolean> {
    return (await secretValue(this.core, this.namespace, this.userSecret(), 'username')) !== undefined;
  }

  private async record(step: NonNullable<UserChangeStatus['step']>): Promise<void> {
    await this.deps.tasks.updateStatus(this.namespace, this.task.metadata.name, (t) => ({
      ...t.status,
      phase: 'Running',
      message: `${this.change!.action} user ${this.change!.username}: ${step}`,
      startTime: t.status?.startTime ?? new Date().toISOString(),
      user: { ...t.status?.user, step },
    }));
  }

  /** The cluster and its ready primary, waited for up to PRIMARY_WAIT_MS (a restarted operator has not observed it yet, a failover runs). */
  private async readyPrimary(signal: AbortSignal): Promise<{ cluster: PgClusterResource; primary: { podIP?: string } }> {
    const until = Date.now() + PRIMARY_WAIT_MS;
    for (;;) {
      const cluster = this.cluster();
      const primary = cluster.status?.instances?.find((i) => i.role === 'primary' && i.ready && i.podIP);
      if (primary) return { cluster, primary };
      if (Date.now() > until) throw new Error(`cluster ${cluster.metadata.name} has no ready primary; try again once pgo show cluster ${cluster.metadata.name} says it is Ready`);
      await sleep(1000, undefined, { signal });
    }
  }

  private async apply(resumed: boolean, signal: AbortSignal): Promise<void> {
    const { cluster, primary } = await this.readyPrimary(signal);
    const superuser = await secretValue(this.core, this.namespace, clusterNames(cluster.metadata.name).superuserSecret, 'password');
    if (superuser === undefined) throw new Error(`cluster ${cluster.metadata.name} has no superuser Secret`);
    const change = this.change!;
    const type = change.passwordType ?? cluster.spec.passwordType ?? 'scram-sha-256';
    const verifier = this.password === undefined ? undefined : passwordVerifier(type, this.password, change.username);
    await withInstance({ host: primary.podIP!, port: cluster.spec.port ?? 5432, password: superuser }, (client) => applyUserChange(client, change, verifier, resumed), 10_000);
  }

  /** Brings the user's Secret in line with the database. */
  private async store(): Promise<void> {
    const change = this.change!;
    const name = this.userSecret();
    if (change.action === 'delete') {
      await this.core.deleteNamespacedSecret({ namespace: this.namespace, name }).catch((err: unknown) => {
        if (httpStatus(err) !== 404) throw err;
      });
      return;
    }
    // A resumed task reads its password again (the check ran in another operator). None left: no new password,
    // or the last operator stored it and had begun cleaning up (cleaning comes only after storing).
    this.password ??= await secretValue(this.core, this.namespace, change.passwordSecret ?? generatedPasswordSecret(this.task), 'password');
    if (this.password === undefined) return;
    if (!change.managed && !(await this.hasUserSecret())) return;
    const body = passwordSecret(this.cluster(), name, change.username, this.password);
    try {
      await this.core.createNamespacedSecret({ namespace: this.namespace, body });
    } catch (err) {
      if (httpStatus(err) !== 409) throw err;
      await this.core.replaceNamespacedSecret({ namespace: this.namespace, name, body });
    }
    await this.deps.tasks.updateStatus(this.namespace, this.task.metadata.name, (t) => ({ ...t.status, user: { ...t.status?.user, secret: name } }));
  }

  /** The new password is kept only in the user's Secret (if any) and the database now. */
  private async clean(): Promise<void> {
    for (const name of [this.change!.passwordSecret, generatedPasswordSecret(this.task)]) {
      if (!name) continue;
      await this.core.deleteNamespacedSecret({ namespace: this.namespace, name }).catch((err: unknown) => {
        if (httpStatus(err) !== 404) throw err;
      });
    }
  }

  private async finish(ok: boolean, error: string | undefined): Promise<void> {
    // A failed change leaves no password behind either.
    if (!ok && this.change) await this.clean().catch((err: unknown) => this.deps.log(`pgtask ${this.task.metadata.name}: ${describeError(err)}`));
    const change = this.change;
    const what = change ? `${change.action} user ${change.username}` : 'user change';
    const message = ok ? `${what}: done` : `${what} failed: ${error}`;
    await this.deps.tasks.updateStatus(this.namespace, this.task.metadata.name, (t) => ({
      ...endedStatus(t.status, ok, message),
      ...(ok ? { user: { ...t.status?.user, step: 'done' as const } } : {}),
    }));
    const cluster = this.deps.cluster(this.namespace, this.task.spec.clusterName);
    if (cluster) this.deps.events.record(cluster, ok ? 'Normal' : 'Warning', ok ? 'UserChanged' : 'UserChangeFailed', `pgtask ${this.task.metadata.name}: ${message}`);
  }
}
