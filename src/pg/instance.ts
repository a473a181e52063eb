/** Connections to one PostgreSQL instance (by pod IP) and the operator's queries against it. */
import pg from 'pg';
import { ALTER_SYSTEM_RESET_ALL, AUTO_CONF_SETTINGS, CHECKPOINT, FORMAT_ALTER_SYSTEM, INSTANCE_STATE, IN_RECOVERY, PROMOTE, RELOAD, REPLICATION_LAG } from './sql.ts';

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
}

/** Replication of one standby, seen from the primary. */
export interface StandbyLag {
  applicationName: string;
  state: string;
  syncState: string;
  lagBytes: number;
}

/** Runs `work` with a short-lived superuser connection; connection errors say which instance failed. */
export async function withInstance<T>(endpoint: Endpoint, work: (client: pg.Client) => Promise<T>, timeoutMs = 3000): Promise<T> {
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    user: 'postgres',
    password: endpoint.password,
    database: 'postgres',
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    query_timeout: timeoutMs + 500,
    application_name: 'pg-operator',
  });
  client.on('error', () => undefined); // a dropped connection surfaces through the pending query
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`connecting to ${endpoint.host}:${endpoint.port}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await work(client);
  } finally {
    // Not awaited: a frozen or cut-off server never answers the Terminate message, and waiting for it
    // would hang the caller (an observation of a frozen primary hung until the 30 s watchdog). The socket
    // is destroyed if the server has not closed it within 2 s.
    const socket = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
    const timer = setTimeout(() => socket?.destroy(), 2000).unref();
    client.end().then(() => clearTimeout(timer), () => undefined);
  }
}

/** Reads whether the instance is in recovery, its timeline and LSNs. */
export async function instanceState(client: pg.Client): Promise<InstanceState> {
  type Row = { in_recovery: boolean; timeline: number; current_lsn: string | null; received_lsn: string | null; replayed_lsn: string | null; pending_restart: boolean };
  const row = (await client.query<Row>(INSTANCE_STATE)).rows[0]!;
  return {
    inRecovery: row.in_recovery,
    timeline: row.timeline,
    currentLsn: row.current_lsn,
    receivedLsn: row.received_lsn,
    replayedLsn: row.replayed_lsn,
    pendingRestart: row.pending_restart,
  };
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
  const { rows } = await client.query<{ in_recovery: boolean }>(IN_RECOVERY);
  if (!rows[0]!.in_recovery) return;
  const promoted = (await client.query<{ promoted: boolean }>(PROMOTE)).rows[0]!.promoted;
  if (!promoted) throw new Error('pg_promote did not finish within 30 s');
  // The control file names the new timeline only after a checkpoint; until then pg_rewind of the old
  // primary against this one would find "no rewind required" and leave it diverged.
  await client.query(CHECKPOINT);
}
