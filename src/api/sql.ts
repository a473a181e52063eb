/** SQL the API runs for `pgo test`, `pgo df` and `pgo reload`; constant text, no interpolation. */

/** A trivial query proving the instance accepts connections and answers. */
export const PING = 'select 1 as ok';

/** Total size in bytes of the databases that accept connections (v4's PGSIZE). */
export const DATABASE_BYTES = `
select coalesce(sum(pg_database_size(datname)), 0)::bigint as bytes
  from pg_database
 where datallowconn`;

/** Rereads the configuration files. */
export const RELOAD_CONF = 'select pg_reload_conf()';
