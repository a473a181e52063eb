/**
 * The psql script of a load (pure): it runs in the load Job (src/actors/load.ts), as the superuser, against
 * the primary. Everything happens in one transaction with ON_ERROR_STOP, so a refused row leaves the table
 * as it was. The table and the file are checked by src/crd/load.ts (identifier characters only, a path
 * without quotes) before they are written into the script: psql does not interpolate variables in \copy.
 */
import { LOAD_MESSAGES, type LoadSpec } from '../crd/load.ts';

/** Where the Job mounts the volume. */
export const LOAD_MOUNT = '/pgload';

/** `"schema"."table"`, each part quoted as written. */
export const quotedTable = (table: string) => table.split('.').map((p) => `"${p}"`).join('.');

/** The quote of a string literal (no quotes can be in it: the path is checked). */
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Lines of the file as text (CSV with delimiters no text has: each line one value, unchanged). */
const LINES = (path: string) => `\\copy pgo_load_lines (doc) from ${literal(path)} with (format csv, quote e'\\x01', delimiter e'\\x02')`;

/** The script that loads the file; its last output line is `COPY n` or `INSERT 0 n`. */
export function loadScript(spec: LoadSpec, mount = LOAD_MOUNT): string {
  const table = quotedTable(spec.table);
  const path = `${mount}/${spec.file}`;
  const role = spec.user && spec.user !== 'postgres' ? [`set role "${spec.user}";`] : [];
  if (spec.fileType === 'csv') {
    return ['\\set ON_ERROR_STOP on', 'begin;', ...role, `\\copy ${table} from ${literal(path)} with (format csv${spec.header ? ', header true' : ''})`, 'commit;', ''].join('\n');
  }
  return [
    '\\set ON_ERROR_STOP on',
    'begin;',
    ...role,
    'create temp table pgo_load_lines (n bigserial primary key, doc text) on commit drop;',
    LINES(path),
    "delete from pgo_load_lines where doc is null or btrim(doc) = '';",
    // The columns some object names, in table order (one pass over the keys).
    `select string_agg(quote_ident(a.attname), ', ' order by a.attnum) as cols, string_agg('r.' || quote_ident(a.attname), ', ' order by a.attnum) as rcols`,
    `  from pg_attribute a where a.attrelid = ${literal(table)}::regclass and a.attnum > 0 and not a.attisdropped`,
    `  and a.attname in (select distinct jsonb_object_keys(doc::jsonb) from pgo_load_lines) \\gset`,
    `\\if :{?cols}`,
    `\\else`,
    `  do $$ begin raise exception '%', ${literal(LOAD_MESSAGES.noColumn(spec.table))}; end $$;`,
    '\\endif',
    `insert into ${table} (:cols) select :rcols from pgo_load_lines l, jsonb_populate_record(null::${table}, l.doc::jsonb) r order by l.n;`,
    'commit;',
    '',
  ].join('\n');
}

/**
 * After a json load failed on a line PostgreSQL cannot read as an object: finds the first such line (read
 * only, in its own transaction). Prints `line n: error`, or nothing.
 */
export function badJsonLineScript(spec: LoadSpec, mount = LOAD_MOUNT): string {
  return [
    '\\set ON_ERROR_STOP on',
    'begin;',
    'create temp table pgo_load_lines (n bigserial primary key, doc text) on commit drop;',
    LINES(`${mount}/${spec.file}`),
    `do $$ declare r record; begin
  for r in select n, doc from pgo_load_lines where doc is not null and btrim(doc) <> '' order by n loop
    begin
      if jsonb_typeof(r.doc::jsonb) <> 'object' then raise exception 'not a JSON object'; end if;
    exception when others then
      raise notice 'pgo-load-bad-line % %', r.n, sqlerrm;
      return;
    end;
  end loop;
end $$;`,
    'rollback;',
    '',
  ].join('\n');
}

/** What a load reported: rows loaded, or PostgreSQL's error with the line of the file it names. */
export function loadOutcome(output: string): { rows: number } | { error: string; line?: number } {
  const done = /^(?:COPY (\d+)|INSERT 0 (\d+))\s*$/m.exec(output.split('\n').filter((l) => /^(COPY|INSERT) /.test(l)).at(-1) ?? '');
  const error = /(?:ERROR|FATAL):\s+(.*)/.exec(output)?.[1]?.trim();
  if (!error && done) return { rows: Number(done[1] ?? done[2]) };
  const copyLine = /CONTEXT:\s+COPY [^,]+, line (\d+)/.exec(output)?.[1];
  const bad = /pgo-load-bad-line (\d+) (.*)/.exec(output);
  const line = bad ? Number(bad[1]) : copyLine ? Number(copyLine) : undefined;
  const what = bad ? bad[2]!.trim() : (error ?? (output.trim().split('\n').at(-1) || 'psql ended without a result'));
  return { error: what, ...(line ? { line } : {}) };
}

/**
 * The load Job's command (`bash -c LOAD_JOB_SCRIPT load DB TYPE FILE SCRIPT BADLINE`), arguments as positional
 * parameters: psql as the superuser against PGO_HOST:PGO_PORT runs the script; after a json load failed, the
 * bad-line script names the line. psql's output (its end) is the termination message, read by loadOutcome.
 */
export const LOAD_JOB_SCRIPT = [
  'set -uo pipefail',
  'db=$1; type=$2; file=$3; out=${PGO_RESULT_FILE:-/dev/termination-log}',
  'if [ ! -f "$file" ]; then printf "ERROR:  no such file %s" "$file" > "$out"; exit 2; fi',
  'sql() { psql -X -h "$PGO_HOST" -p "$PGO_PORT" -U postgres -d "$db" -f - <<< "$1" 2>&1; }',
  'result=$(sql "$4"); rc=$?',
  'if [ "$rc" -ne 0 ] && [ "$type" = json ]; then result+=$\'\\n\'$(sql "$5"); fi',
  'printf "%s\\n" "$result" | tail -c 3500 > "$out"',
  'exit "$rc"',
].join('\n');
