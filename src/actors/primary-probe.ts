/**
 * The primary's health probe: every PGO_PROBE_MS (500 ms; a quarter of that while the primary is in doubt)
 * one cheap query on the operator's long-lived connection to the primary and a new TCP connection to it (a
 * server refusing new clients while old sessions go on is not healthy), failing after PGO_PROBE_TIMEOUT_MS
 * (1 s). A hung, crashed or cut-off primary is noticed within about 1.5 s, not at the next full observation:
 * the machine hears it at once (the primary as not Ready in its latest observation) and a full observation
 * is started. The probe also keeps when the first failed check began, from which the failover delay counts:
 * the primary is failed over only once it was unhealthy for the whole delay, so a primary that stalls for
 * less (a freeze, a CPU-starved node) and answers again is not, even when its answer is slow to come. The
 * full observation (every 5 s, and on every pod change) still decides everything else.
 */
import type pg from 'pg';
import { primaryHealthy } from '../cluster/failover.ts';
import type { Observation } from '../cluster/observation.ts';
import { recoveryState } from '../pg/instance.ts';

export const PROBE_MS = Number(process.env.PGO_PROBE_MS ?? 500);
/** While the primary is in doubt it is probed four times as often, so a quick recovery is seen at once. */
const DOUBT_PROBE_MS = PROBE_MS / 4;
export const PROBE_TIMEOUT_MS = Number(process.env.PGO_PROBE_TIMEOUT_MS ?? 1000);

/** What the probe needs from its cluster actor. */
export interface ProbeHost {
  /** The primary instance now, or undefined while probing makes no sense (a failover, an apply, a restore from a data source). */
  primary(): string | undefined;
  /** The primary's pod now (from the informer): its IP and readiness. */
  primaryPod(primary: string): { ip?: string; ready: boolean } | undefined;
  query<T>(podIP: string, work: (client: pg.Client) => Promise<T>, timeoutMs: number): Promise<T>;
  /** Whether the instance at `podIP` accepts a new connection within `timeoutMs`. */
  accepts(podIP: string, timeoutMs: number): Promise<boolean>;
  /** The machine's latest observation. */
  observation(): Observation | undefined;
  /** Feeds the machine an observation. */
  send(observation: Observation): void;
  /** Starts a full observation. */
  observe(): void;
  log(line: string): void;
}

/** Probes the primary on a timer; one probe at a time. */
export class PrimaryProbe {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** When the primary was last seen healthy (by a probe or an observation). */
  private healthy?: { primary: string; at: number };
  /** When the first failed check of the primary since it was last healthy began (a probe sent, an observation started). */
  private unhealthy?: { primary: string; at: number };
  /** The latest probe found the primary unhealthy. */
  private doubt = false;

  constructor(private readonly host: ProbeHost) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped = true;
  }

  /** The next probe after this one: sooner while the primary is in doubt. */
  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.probe().finally(() => this.schedule()), this.doubt ? DOUBT_PROBE_MS : PROBE_MS);
  }

  /** When `primary` was last seen healthy (epoch ms), if it was since the operator started. */
  healthyAt(primary: string): number | undefined {
    return this.healthy?.primary === primary ? this.healthy.at : undefined;
  }

  /** When the first failed check of `primary` began (epoch ms), while it is unhealthy. */
  unhealthySince(primary: string): number | undefined {
    return this.unhealthy?.primary === primary ? this.unhealthy.at : undefined;
  }

  /**
   * A full observation started at `at` saw the primary: returns it with primaryHealthyAt and
   * primaryUnhealthySince set. While the latest probe found the primary unhealthy, the observation does not
   * overrule it (it reads over the old connection and does not try a new one): the primary stays unhealthy
   * in it until a probe succeeds. Failures count only while the primary is probed (the cluster monitored).
   */
  observed(o: Observation, at: number): Observation {
    if (this.doubt) return this.markedDown(o);
    if (primaryHealthy(o, o.primary)) {
      this.healthy = { primary: o.primary, at };
      this.unhealthy = undefined;
    } else if (this.host.primary() === o.primary) this.failedAt(o.primary, at);
    // Not monitoring (an apply rolling the pods, a failover): an unhealthy primary then is no failure of it,
    // and must not count towards the failover delay once monitoring starts (bench/soak: an apply that rolled
    // the primary was followed by a failover 0.1 s into monitoring).
    else this.unhealthy = undefined;
    return { ...o, primaryHealthyAt: this.healthyAt(o.primary), primaryUnhealthySince: this.unhealthySince(o.primary) };
  }

  private markedDown(o: Observation): Observation {
    const instances = o.instances.map((i) => (i.name === o.primary ? { ...i, ready: false, pg: undefined } : i));
    return { ...o, instances, primaryHealthyAt: this.healthyAt(o.primary), primaryUnhealthySince: this.unhealthySince(o.primary) };
  }

  private failedAt(primary: string, at: number): void {
    if (this.unhealthy?.primary !== primary) this.unhealthy = { primary, at };
  }

  private async probe(): Promise<void> {
    const primary = this.host.primary();
    // Not probing: no doubt of its own then overrules the observations (a restore from a data source
    // would otherwise never be seen to finish).
    if (!primary) return void (this.doubt = false);
    try {
      const started = Date.now();
      const pod = this.host.primaryPod(primary);
      if (!pod?.ip) return this.down(primary, 'has no pod', started);
      const [state, accepts] = await Promise.all([
        this.host.query(pod.ip, recoveryState, PROBE_TIMEOUT_MS).catch((err: unknown) => err as Error),
        this.host.accepts(pod.ip, PROBE_TIMEOUT_MS),
      ]);
      // Slow answers are what a too-short timeout would turn into spurious failovers: bench/soak reads these.
      const took = Date.now() - started;
      if (took > PROBE_TIMEOUT_MS / 2 && !(state instanceof Error)) this.host.log(`probe of primary ${primary} answered in ${took} ms`);
      if (state instanceof Error) this.down(primary, `does not answer (${state.message})`, started);
      else if (!accepts) this.down(primary, 'does not accept new connections', started);
      else if (state.inRecovery) this.down(primary, 'is in recovery', started);
      else if (!pod.ready) this.down(primary, 'is not Ready', started);
      else this.up(primary);
    } catch (err) {
      this.host.log(`probing the primary: ${String(err)}`);
    }
  }

  private up(primary: string): void {
    const recovered = this.doubt;
    this.doubt = false;
    this.healthy = { primary, at: Date.now() };
    this.unhealthy = undefined;
    if (recovered) this.host.observe();
  }

  /** The probe sent at `started` found `primary` unhealthy. */
  private down(primary: string, why: string, started: number): void {
    const first = !this.doubt;
    this.doubt = true;
    this.failedAt(primary, started);
    // Until a full observation agrees, every failed probe tells the machine again.
    const o = this.host.observation();
    if (o?.primary === primary && primaryHealthy(o, primary)) this.host.send(this.markedDown(o));
    if (!first) return;
    this.host.log(`primary ${primary} ${why}`);
    this.host.observe();
  }
}
