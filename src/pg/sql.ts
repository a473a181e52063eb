/** SQL text used by the operator, in one place; identifiers go through `ident`, values are parameters. */

/** Rereads the configuration files. */
export const RELOAD = 'select pg_reload_conf()';

/** Quotes an SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Health and WAL position of an instance. The timeline comes from the current WAL file name on a primary and
 * from the WAL receiver on a standby: pg_control_checkpoint() lags until the next checkpoint after a promotion.
 */
export const INSTANCE_STATE = `
select pg_is_in_recovery() as in_recovery,
       case when pg_is_in_recovery()
            then coalesce((select received_tli from pg_stat_wal_receiver), (select timeline_id from pg_control_checkpoint()))
            else ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
       end as timeline,
       case when pg_is_in_recovery() then null else pg_current_wal_lsn() end as current_lsn,
       pg_last_wal_receive_lsn() as received_lsn,
       pg_last_wal_replay_lsn() as replayed_lsn,
       -- a restart applies nothing to the recovery targets (postmaster settings a restore's promotion resets):
       -- they act only at a start in recovery, and the entrypoint drops them from any instance it starts
       exists (select 1 from pg_settings where pending_restart and name not like 'recovery\\_target%') as pending_restart,
       -- a primary_conninfo the operator set (ALTER SYSTEM) during a failover; null: the image's (the Service)
       (select setting from pg_settings where name = 'primary_conninfo' and sourcefile like '%/postgresql.auto.conf') as upstream,
       (select status from pg_stat_wal_receiver) as receiver,
       (select (1000 * extract(epoch from now() - last_msg_receipt_time))::int from pg_stat_wal_receiver) as heard_ms_ago,
       -- restore_command cleared by a failover's cut-off (DETACH_STANDBY): no archive fetches until it is reset
       coalesce((select setting = '' from pg_settings where name = 'restore_command' and sourcefile like '%/postgresql.auto.conf'), false) as archive_off`;

/**
 * Cuts a standby off its upstream: with an empty primary_conninfo its WAL receiver stops and is not started
 * again, so a cut-off old primary can no longer send it WAL nor hear it acknowledge synchronous commits.
 * Without restore_command either it no longer polls the archive: it only waits, and a promotion is not
 * held up by an archive-get in flight. (ALTER SYSTEM works on a standby: it writes postgresql.auto.conf,
 * not WAL; both settings are reloadable.)
 */
export const DETACH_STANDBY = [`alter system set primary_conninfo = ''`, `alter system set restore_command = ''`, RELOAD];

/**
 * Stops the server from inside (a superuser's COPY TO PROGRAM, as the postgres user of its container): a
 * SIGINT to the container's PID 1 (tini, which passes it to the entrypoint's supervisor) is a fast shutdown
 * that ends the container, as `pgo-stop` does, without a round trip through the API server and the kubelet.
 */
export const STOP_SERVER = `copy (select 1) to program 'kill -INT 1'`;

/** Whether the standby's WAL receiver still runs. */
export const RECEIVER_RUNNING = 'select exists (select 1 from pg_stat_wal_receiver) as running';

/** Gives a standby back the image's restore_command (after DETACH_STANDBY), and reloads. */
export const RESET_RESTORE_COMMAND = ['alter system reset restore_command', RELOAD];

/** Gives a standby back the image's primary_conninfo (the primary Service) and restore_command. */
export const RESET_UPSTREAM = ['alter system reset primary_conninfo', ...RESET_RESTORE_COMMAND];

/** Replication lag in bytes of each streaming standby, by application_name (the replica pod's name). */
export const REPLICATION_LAG = `
select application_name, state, sync_state,
       -- never negative: just after a promotion a standby can report a replay position past ours
       greatest(0, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::bigint as lag_bytes
  from pg_stat_replication`;

/**
 * Builds `ALTER SYSTEM SET name = value` with the server's own quoting (%I, %L): ALTER SYSTEM takes no bind
 * parameters and cannot run in a transaction block, so the statement is formatted first, then executed.
 */
export const FORMAT_ALTER_SYSTEM = `select format('alter system set %I = %L', $1::text, $2::text) as sql`;

/** The settings in postgresql.auto.conf now (to restore them when a new set is refused). */
export const AUTO_CONF_SETTINGS = `
select name, setting from pg_file_settings
 where sourcefile = current_setting('data_directory') || '/postgresql.auto.conf'
 order by seqno`;

/** Forgets every ALTER SYSTEM setting (the spec's parameters are then set again). */
export const ALTER_SYSTEM_RESET_ALL = 'alter system reset all';

/** Settings a pgBackRest restore left in postgresql.auto.conf: cleared once the restore has promoted. */
export const RESTORE_SETTINGS = ['recovery_target', 'recovery_target_lsn', 'recovery_target_name', 'recovery_target_time', 'recovery_target_xid', 'recovery_target_action', 'recovery_target_inclusive', 'recovery_target_timeline', 'restore_command'];


/** Clears what a restore left in postgresql.auto.conf (one statement each: ALTER SYSTEM runs outside a transaction), then reloads. */
export const RESET_RESTORE_SETTINGS = [...RESTORE_SETTINGS.map((setting) => `alter system reset ${setting}`), RELOAD];

/** Promotes a standby and waits (up to 30 s) until it is out of recovery; true when it is. */
export const PROMOTE = 'select pg_promote(true, 30) as promoted';

/** Whether the instance is a standby. */
export const IN_RECOVERY = 'select pg_is_in_recovery() as in_recovery';

/** Writes a checkpoint (after a promotion: puts the new timeline in the control file). */
export const CHECKPOINT = 'checkpoint';

/** WAL archiving on the primary (pg_stat_archiver) and the size of pg_wal. */
export const ARCHIVER = `
select archived_count::int, last_archived_wal, last_archived_time, failed_count::int, last_failed_wal, last_failed_time,
       (select coalesce(sum(size), 0) from pg_ls_waldir())::bigint::text as wal_bytes
from pg_stat_archiver`;
