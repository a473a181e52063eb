/**
 * Real PostgreSQL 15 servers (Debian's binaries) for the pg tier: a primary from initdb and standbys from
 * pg_basebackup, on free loopback ports, run as the `postgres` user (initdb refuses root). Each instance's
 * directory is removed when it is destroyed.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Endpoint } from '../../src/pg/instance.ts';
import { freePort } from './net.ts';

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';
/** Superuser password of every test instance (loopback only). */
export const PASSWORD = 'pg-tier-secret';

/** One PostgreSQL server of the pg tier. */
export interface PgServer {
  name: string;
  dir: string;
  port: number;
  endpoint: Endpoint;
  /** Runs a PostgreSQL program as the postgres user; resolves to its output (stdout, then stderr). */
  exec(program: string, args: string[]): Promise<string>;
  start(): Promise<void>;
  /** Stops the server (`fast` by default, `immediate` to simulate a crash). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

const asPostgres = async (program: string, args: string[]) => {
  const { stdout, stderr } = await run('runuser', ['-u', 'postgres', '--', join(BIN, program), ...args], { env: { ...process.env, PGPASSWORD: PASSWORD } });
  return stdout + stderr;
};

function server(name: string, dir: string, port: number): PgServer {
  const data = join(dir, 'data');
  const s: PgServer = {
    name,
    dir,
    port,
    endpoint: { host: '127.0.0.1', port, password: PASSWORD },
    exec: asPostgres,
    start: async () => void (await asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'])),
    stop: async (mode = 'fast') => void (await asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']).catch(() => '')),
    destroy: async () => {
      await s.stop('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s;
}

function newDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pgo-pg-${name}-`));
  chownSync(dir, 101, 104);
  return dir;
}

/** Settings the operator's image uses that matter for replication and rewind. */
const conf = (port: number, dir: string) => `
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${dir}'
wal_level = replica
max_wal_senders = 10
wal_log_hints = on
hot_standby = on
wal_keep_size = '256MB'
recovery_target_timeline = 'latest'
wal_receiver_timeout = '5s'
wal_retrieve_retry_interval = '1s'
`;

/** Starts a new primary. */
export async function startPrimary(name = 'primary'): Promise<PgServer> {
  const dir = newDir(name);
  const port = await freePort();
  const pw = join(dir, 'pw');
  appendFileSync(pw, `${PASSWORD}\n`);
  chownSync(pw, 101, 104);
  await asPostgres('initdb', ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pw}`, '--locale=C.UTF-8']);
  appendFileSync(join(dir, 'data', 'postgresql.conf'), conf(port, dir));
  appendFileSync(join(dir, 'data', 'pg_hba.conf'), 'host replication postgres 127.0.0.1/32 scram-sha-256\n');
  const s = server(name, dir, port);
  await s.start();
  return s;
}

/** Points a stopped standby (or former primary) at `primary`: standby.signal and primary_conninfo. */
export function followConf(s: PgServer, primary: PgServer): void {
  appendFileSync(join(s.dir, 'data', 'standby.signal'), '');
  appendFileSync(join(s.dir, 'data', 'postgresql.conf'),
    `${conf(s.port, s.dir)}\nprimary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres password=${PASSWORD} application_name=${s.name}'\n`);
}

/** Clones `primary` into a new standby that streams from it. */
export async function startStandby(primary: PgServer, name: string): Promise<PgServer> {
  const dir = newDir(name);
  const port = await freePort();
  await asPostgres('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', join(dir, 'data'), '--wal-method=stream', '--checkpoint=fast']);
  const s = server(name, dir, port);
  followConf(s, primary);
  await s.start();
  return s;
}
