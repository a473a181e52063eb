/**
 * The actor of a minor upgrade (a pgupgrade; machine in src/machines/upgrade.ts). An instance's image is its
 * pgreplica's spec.image, or the cluster's spec.image for the instance named after the cluster and for every
 * pgreplica without one. So the upgrade first pins every pgreplica to the image it runs; then it can move one
 * instance at a time by changing one field, and the cluster actor rolls only that instance's pod. Replicas go
 * first, each back and streaming before the next; then a switchover (a pgtask, carried out by the cluster
 * actor) to an upgraded replica; then the old primary. Last, the cluster's image becomes the new one and the
 * pins are removed (no pod changes). An instance that does not come back on the new image is put back on the
 * old one and the upgrade stops, the primary untouched.
 */
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor, fromPromise, type Actor } from 'xstate';
import { LABEL } from '../cluster/names.ts';
import { clusterInstances } from '../cluster/plan.ts';
import { UPGRADE_MESSAGES, type UpgradeStep } from '../crd/pgupgrade.ts';
import { API_VERSION } from '../crd/resources.ts';
import type { PgClusterResource, PgReplicaResource, PgTaskResource, PgUpgradeResource } from '../crd/types.ts';
import { describeError, type CustomResources } from '../k8s/custom.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { upgradeMachine, type RollOutcome } from '../machines/upgrade.ts';
import { imageProblem } from './preflight.ts';
import { MachineTaskActor, endedStatus } from './task-actors.ts';

/** Longest an instance may take to come back on the new image (pull, start, catch up). */
const INSTANCE_MS = Number(process.env.PGO_UPGRADE_INSTANCE_MS ?? 300_000);
/** Longest the switchover may take. */
const SWITCHOVER_MS = 300_000;
/** Container states that will not get better by waiting. */
const HOPELESS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError', 'CrashLoopBackOff']);

/** An upgrade that cannot go on as asked (not retried). */
export class UpgradeRefused extends Error {}

/** What an upgrade needs. */
export interface UpgradeDeps {
  kc: KubeConfig;
  upgrades: CustomResources<PgUpgradeResource>;
  clusters: CustomResources<PgClusterResource>;
  replicas: CustomResources<PgReplicaResource>;
  tasks: CustomResources<PgTaskResource>;
  events: EventRecorder;
  replicaList(namespace: string, cluster: string): readonly PgReplicaResource[];
  log(line: string): void;
}

/** Why an instance's pod is not (yet) serving on `image`, or undefined once it is Ready on it; `hopeless` when waiting will not help. */
export function podProblem(pods: readonly V1Pod[], image: string): { why: string; hopeless: boolean } | undefined {
  const pod = pods.find((p) => !p.metadata?.deletionTimestamp && p.spec?.containers.find((c) => c.name === 'database')?.image === image);
  if (!pod) return { why: `no pod on ${image} yet`, hopeless: false };
  const db = pod.status?.containerStatuses?.find((c) => c.name === 'database');
  const reason = db?.state?.waiting?.reason;
  if (reason && HOPELESS.has(reason)) return { why: `${reason}${db?.state?.waiting?.message ? `: ${db.state.waiting.message}` : ''}`, hopeless: true };
  if ((db?.restartCount ?? 0) >= 2) return { why: `its database container restarted ${db!.restartCount} times`, hopeless: true };
  if (!db?.ready) return { why: `pod ${pod.metadata?.name} not Ready`, hopeless: false };
  return undefined;
}

/** The actor of one pgupgrade. */
export class UpgradeActor extends MachineTaskActor<typeof upgradeMachine> {
  protected readonly actor: Actor<typeof upgradeMachine>;
  private readonly key: string;

  constructor(
    private readonly upgrade: PgUpgradeResource,
    private readonly deps: UpgradeDeps,
  ) {
    super();
    this.key = `${upgrade.metadata.namespace}/${upgrade.metadata.name}`;
    const effect = <T>(run: (signal: AbortSignal) => Promise<T>) => fromPromise<T>(({ signal }) => run(AbortSignal.any([signal, this.abort.signal])));
    const machine = upgradeMachine.provide({
      actors: {
        check: effect((s) => this.check(s)),
        rollNext: effect((s) => this.rollNext(s)),
        switchover: effect((s) => this.switchover(s)),
        finish: effect(() => this.finish()),
      },
    });
    this.actor = createActor(machine);
    this.actor.subscribe((s) => void this.report(String(s.value), s.context.error).catch((err: unknown) => deps.log(`${this.key}: ${describeError(err)}`)));
  }

  private get namespace(): string {
    return this.upgrade.metadata.namespace;
  }
  private get clusterName(): string {
    return this.upgrade.spec.clusterName;
  }
  private get image(): string {
    return this.upgrade.spec.image;
  }

  private async cluster(): Promise<PgClusterResource> {
    return this.deps.clusters.get(this.namespace, this.clusterName).catch((err: unknown) => {
      throw new UpgradeRefused(`pgcluster ${this.clusterName}: ${describeError(err)}`);
    });
  }

  private replicasOf(): PgReplicaResource[] {
    return this.deps.replicaList(this.namespace, this.clusterName).filter((r) => !r.metadata.deletionTimestamp);
  }

  /** The cluster's instances (as the cluster actor plans them) and the image each is asked to run. */
  private instances(cluster: PgClusterResource): { name: string; image: string }[] {
    return clusterInstances(cluster, this.replicasOf()).map((i) => ({ name: i.name, image: i.image ?? cluster.spec.image }));
  }

  /** The image an instance is asked to run. */
  private imageOf(cluster: PgClusterResource, instance: string): string {
    return this.instances(cluster).find((i) => i.name === instance)?.image ?? cluster.spec.image;
  }

  /** Asks one instance to run `image` (only that instance: the pgreplicas are pinned). */
  private async setImage(instance: string, image: string): Promise<void> {
    if (instance === this.clusterName) await this.deps.clusters.mutate(this.namespace, instance, (c) => void (c.spec.image = image));
    else await this.deps.replicas.mutate(this.namespace, instance, (r) => void (r.spec.image = image));
  }

  private async step(step: UpgradeStep['step'], message: string, instance?: string): Promise<void> {
    await this.deps.upgrades.updateStatus(this.namespace, this.upgrade.metadata.name, (u) => ({
      ...u.status,
      steps: [...(u.status?.steps ?? []), { time: new Date().toISOString(), step, ...(instance ? { instance } : {}), message }].slice(-64),
    }));
  }

  private async check(signal: AbortSignal): Promise<void> {
    if (this.upgrade.spec.type !== 'minor') throw new UpgradeRefused(UPGRADE_MESSAGES.major);
    const cluster = await this.cluster();
    const fresh = await this.deps.upgrades.get(this.namespace, this.upgrade.metadata.name);
    const others = (await this.deps.upgrades.list(this.namespace)).filter(
      (u) => u.spec.clusterName === this.clusterName && u.metadata.name !== this.upgrade.metadata.name && u.status?.phase === 'Running',
    );
    if (others.length) throw new UpgradeRefused(UPGRADE_MESSAGES.busy(others[0]!.metadata.name));
    let from = fresh.status?.fromImage;
    if (!from) {
      if (cluster.spec.image === this.image) throw new UpgradeRefused(UPGRADE_MESSAGES.same(this.image));
      from = cluster.spec.image;
      await this.deps.upgrades.updateStatus(this.namespace, this.upgrade.metadata.name, (u) => ({ ...u.status, fromImage: from }));
    }
    const problem = await imageProblem(this.deps.kc.makeApiClient(CoreV1Api), cluster, this.image, `${this.upgrade.metadata.name}-check`.slice(0, 63), signal);
    if (problem) throw new UpgradeRefused(`${problem}; nothing was changed`);
    // Pinned to what they run now, so changing the cluster's image later moves only its own instance.
    for (const r of this.replicasOf()) if (!r.spec.image) await this.setImage(r.metadata.name, cluster.spec.image);
    if (!fresh.status?.steps?.some((s) => s.step === 'checked')) await this.step('checked', `${this.image} runs; moving ${this.instances(cluster).length} instances from ${from}`);
  }

  private async rollNext(signal: AbortSignal): Promise<RollOutcome> {
    const cluster = await this.cluster();
    const primary = cluster.status?.currentPrimary ?? this.clusterName;
    const instances = this.instances(cluster).map((i) => i.name);
    const next = instances.find((i) => i !== primary && this.imageOf(cluster, i) !== this.image)
      // An instance asked to run the new image that is not back yet (an operator restarted while it rolled).
      ?? instances.find((i) => i !== primary && !this.serving(cluster, i));
    if (next) {
      await this.roll(next, 'replica', signal);
      return 'rolled';
    }
    return this.imageOf(cluster, primary) === this.image ? 'done' : 'primary';
  }

  /** Ready and, for a replica, streaming from the primary, as the cluster actor last observed it (in the pod at `podIP`, when given). */
  private serving(cluster: PgClusterResource, instance: string, podIP?: string): boolean {
    const i = cluster.status?.instances?.find((x) => x.name === instance);
    return !!i?.ready && (!podIP || i.podIP === podIP) && (i.role === 'primary' || i.lagBytes !== undefined);
  }

  /** Moves `instance` to the new image and waits until it serves on it; puts it back on the old one when it does not come back. */
  private async roll(instance: string, step: 'replica' | 'primary', signal: AbortSignal): Promise<void> {
    const from = (await this.deps.upgrades.get(this.namespace, this.upgrade.metadata.name)).status?.fromImage ?? '';
    await this.setImage(instance, this.image);
    const core = this.deps.kc.makeApiClient(CoreV1Api);
    const deadline = Date.now() + INSTANCE_MS;
    let why = 'it did not become Ready';
    for (;;) {
      signal.throwIfAborted();
      const pods = (await core.listNamespacedPod({ namespace: this.namespace, labelSelector: `${LABEL.cluster}=${this.clusterName},${LABEL.instance}=${instance}` })).items;
      const problem = podProblem(pods, this.image);
      // Observed in the new pod: the status may still describe the old one.
      const podIP = pods.find((p) => !p.metadata?.deletionTimestamp && p.status?.podIP)?.status?.podIP;
      if (!problem && this.serving(await this.cluster(), instance, podIP)) break;
      if (problem) why = problem.why;
      else why = 'Ready, but not streaming from the primary';
      if (problem?.hopeless || Date.now() > deadline) {
        if (from) await this.setImage(instance, from);
        const message = UPGRADE_MESSAGES.didNotStart(instance, this.image, Date.now() > deadline ? `after ${INSTANCE_MS / 1000} s: ${why}` : why);
        await this.step('reverted', message, instance);
        throw new UpgradeRefused(message);
      }
      await sleep(1000, undefined, { signal });
    }
    const lag = (await this.cluster()).status?.instances?.find((x) => x.name === instance)?.lagBytes;
    await this.step(step, `${instance} runs ${this.image}${lag !== undefined ? ` and streams (${lag} bytes behind)` : ''}`, instance);
  }

  /** The primary runs the old image and every other instance the new one: switch over to the best of them. */
  private async switchover(signal: AbortSignal): Promise<void> {
    const cluster = await this.cluster();
    const primary = cluster.status?.currentPrimary ?? this.clusterName;
    const others = this.instances(cluster).map((i) => i.name).filter((i) => i !== primary);
    if (!others.length) {
      // No replica to take over: the primary itself is restarted on the new image (an outage).
      await this.roll(primary, 'primary', signal);
      return;
    }
    const target = (cluster.status?.instances ?? [])
      .filter((i) => others.includes(i.name) && this.serving(cluster, i.name) && this.imageOf(cluster, i.name) === this.image)
      .sort((a, b) => (a.lagBytes ?? 0) - (b.lagBytes ?? 0))[0]?.name;
    if (!target) throw new UpgradeRefused(`no upgraded replica is Ready and streaming to take over from ${primary}; the primary stays on its image`);
    const name = `${this.upgrade.metadata.name}-switchover-${primary}`.slice(0, 253);
    await this.deps.tasks.createIfAbsent({
      apiVersion: API_VERSION,
      kind: 'PGTask',
      metadata: { name, namespace: this.namespace, labels: { [LABEL.cluster]: this.clusterName } },
      spec: { type: 'switchover', clusterName: this.clusterName, target },
    });
    const deadline = Date.now() + SWITCHOVER_MS;
    for (;;) {
      signal.throwIfAborted();
      const t = await this.deps.tasks.get(this.namespace, name);
      if (t.status?.phase === 'Failed') throw new UpgradeRefused(`the switchover to ${t.spec.target} failed (pgtask ${name}): ${t.status.message}`);
      const now = await this.cluster();
      if (t.status?.phase === 'Succeeded' && now.status?.currentPrimary !== primary && !now.status?.failover) {
        await this.step('switchover', `switched over from ${primary} to ${now.status?.currentPrimary} (pgtask ${name})`, now.status?.currentPrimary);
        return;
      }
      if (Date.now() > deadline) throw new Error(`the switchover to ${target} (pgtask ${name}) did not finish in ${SWITCHOVER_MS / 1000} s`);
      await sleep(1000, undefined, { signal });
    }
  }

  /** Every instance runs the new image: it becomes the cluster's (the pins then go, in report()). */
  private async finish(): Promise<void> {
    const cluster = await this.cluster();
    if (cluster.spec.image !== this.image) await this.setImage(this.clusterName, this.image);
    await this.step('finished', `spec.image of pgcluster ${this.clusterName} is ${this.image}`);
  }

  private async report(state: string, error: string | undefined): Promise<void> {
    const { namespace, name } = this.upgrade.metadata;
    const ended = state === 'succeeded' || state === 'failed';
    let message = '';
    await this.deps.upgrades.updateStatus(namespace, name, (u) => {
      const steps = u.status?.steps ?? [];
      const switchovers = steps.filter((s) => s.step === 'switchover').length;
      if (!ended) return { ...u.status, phase: 'Running', message: `${state}: moving ${this.clusterName} to ${this.image}`, startTime: u.status?.startTime ?? new Date().toISOString() };
      message = state === 'succeeded'
        ? `${this.clusterName} runs ${this.image} on every instance (${steps.filter((s) => s.step === 'replica' || s.step === 'primary').length} moved, ${switchovers} switchover${switchovers === 1 ? '' : 's'})`
        : `upgrade of ${this.clusterName} to ${this.image} failed: ${error}`;
      return endedStatus(u.status, state === 'succeeded', message);
    });
    if (!ended) return;
    const cluster = await this.deps.clusters.get(namespace, this.clusterName).catch(() => undefined);
    // A pin that is the cluster's image anyway is no longer needed (and removing it changes no pod).
    for (const r of cluster ? this.replicasOf() : []) {
      if (r.spec.image === cluster!.spec.image) await this.deps.replicas.mutate(namespace, r.metadata.name, (x) => void delete x.spec.image);
    }
    if (cluster) this.deps.events.record(cluster, state === 'failed' ? 'Warning' : 'Normal', state === 'failed' ? 'UpgradeFailed' : 'Upgraded', `pgupgrade ${name}: ${message}`);
  }
}
