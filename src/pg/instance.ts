/** Connections to one PostgreSQL instance (by pod IP) and the operator's queries against it. */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALTER_SYSTEM_RESET_ALL, AUTO_CONF_SETTINGS, CHECKPOINT, DETACH_STANDBY, FORMAT_ALTER_SYSTEM, INSTANCE_STATE, IN_RECOVERY, PROMOTE, RECEIVER_RUNNING, RELOAD, REPLICATION_LAG, RESET_RESTORE_COMMAND, RESET_UPSTREAM, STOP_SERVER } from './sql.ts';

/** Where and how to reach an instance as the superuser. */
export interface Endpoint {
  host: string;
  port: number;
  password: string;
}

/** Health and WAL position of an instance. */
export interface InstanceState {
  inRecovery: boolean;
  timeline: number;
  currentLsn: string | null;
  receivedLsn: string | null;
  replayedLsn: string | null;
  /** A changed parameter waits for a restart. */
  pendingRestart: boolean;
  /**
   * A standby's upstream as the operator set it during a failover: the new primary's address, '' while it is
   * cut off; undefined when it follows the image's setting (the primary Service).
   */
  upstream?: string;
  /** A standby's WAL receiver is streaming. */
  streaming?: boolean;
  /** A standby's restore_command is cleared (a failover cut it off): it fetches nothing from the archive. */
  archiveOff?: boolean;
  /** How long ago a standby's WAL receiver last heard from its upstream (ms, its own clock). */
  heardMsAgo?: number;
}

/** Replication of one standby, seen from the primary. */
export interface StandbyLag {
  applicationName: string;
  state: string;
  syncState: string;
  lagBytes: number;
}

/** The operator's superuser connection settings for `endpoint`, giving up on connecting after `timeoutMs`. */
export function superuserConfig(endpoint: Endpoint, timeoutMs: number): pg.ClientConfig {
  return { host: endpoint.host, port: endpoint.port, user: 'postgres', password: endpoint.password, database: 'postgres', connectionTimeoutMillis: timeoutMs, application_name: 'pg-operator' };
}

/**
 * Closes a connection without waiting: a frozen or cut-off server never answers the Terminate message, and
 * waiting for it would hang the caller. The socket is destroyed if the server has not closed it within `graceMs`.
 */
export function dropConnection(client: pg.Client, graceMs = 0): void {
  const socket = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  if (!graceMs) return void socket?.destroy();
  const timer = setTimeout(() => socket?.destroy(), graceMs).unref();
  client.end().then(() => clearTimeout(timer), () => undefined);
}

/** When a query of this operator was last sent to, or last finished on, each server address (epoch ms). */
const asked = new Map<string, number>();

/** Notes that a query to `host` is being sent or has just finished (see lastAsked). */
export function noteAsked(host: string): void {
  const now = Date.now();
  asked.set(host, now);
  if (asked.size > 10_000) for (const [h, t] of asked) if (now - t > 600_000) asked.delete(h);
}

/**
 * The latest time a query of this operator may have reached the server at `host` (undefined: none since it
 * started). A query's bytes can arrive until its connection is closed, which its end time covers.
 */
export function lastAsked(host: string): number | undefined {
  return asked.get(host);
}

/** Runs `work` with a short-lived superuser connection; connection errors say which instance failed. */
export async function withInstance<T>(endpoint: Endpoint, work: (client: pg.Client) => Promise<T>, timeoutMs = 3000): Promise<T> {
  const client = new pg.Client({ ...superuserConfig(endpoint, timeoutMs), statement_timeout: timeoutMs, query_timeout: timeoutMs + 500 });
  client.on('error', () => undefined); // a dropped connection surfaces through the pending query
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`connecting to ${endpoint.host}:${endpoint.port}: ${(err as Error).message}`, { cause: err });
  }
  try {
    noteAsked(endpoint.host);
    return await work(client);
  } finally {
    noteAsked(endpoint.host);
    // (An observation of a frozen primary once hung here until the 30 s watchdog.)
    dropConnection(client, 2000);
  }
}

/** Runs `statements` one after the other on `client`. */
export async function queryAll(client: pg.Client, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await client.query(statement);
}

/** Reads only whether the instance is in recovery (a standby): the cheap question of a health probe. */
export async function recoveryState(client: pg.Client): Promise<{ inRecovery: boolean }> {
  return { inRecovery: (await client.query<{ in_recovery: boolean }>(IN_RECOVERY)).rows[0]!.in_recovery };
}

/** Reads whether the instance is in recovery, its timeline and LSNs. */
export async function instanceState(client: pg.Client): Promise<InstanceState> {
  type Row = {
    in_recovery: boolean; timeline: number; current_lsn: string | null; received_lsn: string | null; replayed_lsn: string | null;
    pending_restart: boolean; upstream: string | null; receiver: string | null; archive_off: boolean; heard_ms_ago: number | null;
  };
  const row = (await client.query<Row>(INSTANCE_STATE)).rows[0]!;
  return {
    inRecovery: row.in_recovery,
    timeline: row.timeline,
    currentLsn: row.current_lsn,
    receivedLsn: row.received_lsn,
    replayedLsn: row.replayed_lsn,
    pendingRestart: row.pending_restart,
    ...(row.upstream === null ? {} : { upstream: /(?:^|\s)host=(\S+)/.exec(row.upstream)?.[1] ?? '' }),
    streaming: row.receiver === 'streaming',
    archiveOff: row.archive_off,
    ...(row.heard_ms_ago === null ? {} : { heardMsAgo: row.heard_ms_ago }),
  };
}

/**
 * Cuts a standby off its upstream (see DETACH_STANDBY) and waits until its WAL receiver has stopped; resolves
 * to its state then, whose received LSN no longer moves. A primary is left alone.
 */
export async function detachStandby(client: pg.Client): Promise<InstanceState> {
  if (!(await recoveryState(client)).inRecovery) return instanceState(client);
  await queryAll(client, DETACH_STANDBY);
  for (let i = 0; (await client.query<{ running: boolean }>(RECEIVER_RUNNING)).rows[0]!.running; i++) {
    if (i >= 100) throw new Error('the WAL receiver did not stop within 5 s of clearing primary_conninfo');
    await sleep(50);
  }
  return instanceState(client);
}

/** The image's standby connection string to `host` (the image's entrypoint writes the same one for the Service). */
export function standbyConninfo(host: string, port: number, applicationName: string): string {
  return `host=${host} port=${port} user=replicator passfile=/pgdata/pgo-pgpass application_name=${applicationName} connect_timeout=3 keepalives_idle=2 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=5000`;
}

/**
 * Points a standby straight at `host` (the new primary's address) instead of the primary Service, whose
 * endpoints each node learns a moment later: it streams from the new primary at once and never from the old.
 * The replication password is in the image's passfile, so none is in this statement. The restore_command
 * stays cleared (DETACH_STANDBY): a standby asks the archive before it streams, and an archive-get from a
 * repository host on a cut-off or stopped node hangs, so streaming would wait for it; the upkeep gives it
 * back once the standby streams (src/actors/instances.ts).
 */
export async function attachStandby(client: pg.Client, conninfo: string): Promise<void> {
  const { rows } = await client.query<{ sql: string }>(FORMAT_ALTER_SYSTEM, ['primary_conninfo', conninfo]);
  await client.query(rows[0]!.sql);
  await client.query(RELOAD);
}

/** Gives a standby back the image's restore_command (after a failover's cut-off). */
export async function resetRestoreCommand(client: pg.Client): Promise<void> {
  await queryAll(client, RESET_RESTORE_COMMAND);
}

/** Gives a standby back the image's upstream (the primary Service). */
export async function resetUpstream(client: pg.Client): Promise<void> {
  await queryAll(client, RESET_UPSTREAM);
}

/** Asks the server to stop (fast shutdown, see STOP_SERVER); resolves once the request is made. */
export async function stopServer(client: pg.Client): Promise<void> {
  await client.query(STOP_SERVER);
}

/** Writes a checkpoint: after a promotion it puts the new timeline in the control file (for pg_rewind). */
export async function checkpoint(client: pg.Client): Promise<void> {
  await client.query(CHECKPOINT);
}

/** Reads the replication of every standby (on a primary). */
export async function standbyLag(client: pg.Client): Promise<StandbyLag[]> {
  const { rows } = await client.query<{ application_name: string; state: string; sync_state: string; lag_bytes: string | null }>(REPLICATION_LAG);
  return rows.map((r) => ({ applicationName: r.application_name, state: r.state, syncState: r.sync_state, lagBytes: Number(r.lag_bytes ?? 0) }));
}

/** PostgreSQL refused a parameter (unknown name, bad value or unit, not settable). */
export class ParameterRejected extends Error {
  constructor(
    readonly parameter: string,
    readonly sqlstate: string,
    message: string,
  ) {
    super(message);
    this.name = 'ParameterRejected';
  }
}

// SQLSTATEs of a refused setting: data exceptions (22xxx: bad value, unit, range), undefined_object (42704:
// unknown name), syntax_error (42601) and cant_change_runtime_param (55P02: e.g. data_directory).
const refused = (code: string | undefined) => !!code && (code.startsWith('22') || ['42704', '42601', '55P02'].includes(code));

async function setAll(client: pg.Client, parameters: Iterable<[string, string]>): Promise<void> {
  await client.query(ALTER_SYSTEM_RESET_ALL);
  for (const [name, value] of parameters) {
    const { rows } = await client.query<{ sql: string }>(FORMAT_ALTER_SYSTEM, [name, value]);
    try {
      await client.query(rows[0]!.sql);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (refused(code)) throw new ParameterRejected(name, code!, (err as Error).message);
      throw err;
    }
  }
}

/**
 * Makes postgresql.auto.conf hold exactly `parameters` and reloads (pendingRestart tells what waits for a
 * restart). ALTER SYSTEM checks each value as PostgreSQL would at start-up; when one is refused, the file
 * gets its previous settings back and nothing is reloaded, so neither a reload nor a restart sees a bad or
 * half-written configuration.
 * @throws ParameterRejected naming the parameter and PostgreSQL's message
 */
export async function applyParameters(client: pg.Client, parameters: Record<string, string>): Promise<void> {
  const before = (await client.query<{ name: string; setting: string }>(AUTO_CONF_SETTINGS)).rows;
  try {
    await setAll(client, Object.entries(parameters));
  } catch (err) {
    await setAll(client, before.map((b) => [b.name, b.setting]));
    throw err;
  }
  await client.query(RELOAD);
}

/** Promotes a standby and waits until it accepts writes; a primary is left as it is. */
export async function promote(client: pg.Client): Promise<void> {
  if (!(await recoveryState(client)).inRecovery) return;
  const promoted = (await client.query<{ promoted: boolean }>(PROMOTE)).rows[0]!.promoted;
  if (!promoted) throw new Error('pg_promote did not finish within 30 s');
}
