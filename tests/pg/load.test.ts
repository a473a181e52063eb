/**
 * The load Job's command (src/pg/load.ts) on real PostgreSQL 15 with the real psql: CSV and JSON Lines files
 * load in one transaction; a refused row leaves the table as it was and is named by its line; the rows are
 * written as the role asked for.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadSpec, type LoadSpec } from '../../src/crd/load.ts';
import { withInstance } from '../../src/pg/instance.ts';
import { LOAD_JOB_SCRIPT, badJsonLineScript, loadOutcome, loadScript } from '../../src/pg/load.ts';
import { PASSWORD, startPrimary, type PgServer } from '../harness/pg.ts';

interface Ctx {
  s: PgServer;
  dir: string;
}
const test = suite<Ctx>('pgo load on real PostgreSQL');
const run = promisify(execFile);

test.before(async (ctx) => {
  ctx.s = await startPrimary('load');
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgo-load-'));
  await sql(ctx, `create table orders (id int primary key, item text not null, qty int default 1, at timestamptz default now());
    create role reader login; grant select on orders to reader;`);
});

test.after(async (ctx) => {
  await ctx.s?.destroy();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

const sql = (ctx: Ctx, text: string) => withInstance(ctx.s.endpoint, async (c) => (await c.query(text)) as unknown as { rows: Record<string, unknown>[] }, 10_000);
const count = async (ctx: Ctx) => Number((await sql(ctx, 'select count(*)::int as n from orders')).rows[0]!.n);

/** Runs the Job's command as the Job does; resolves to what loadOutcome reads from its termination message. */
async function load(ctx: Ctx, fields: Partial<LoadSpec> & { file: string }) {
  const spec = loadSpec.parse({ pvcName: 'data', table: 'orders', ...fields });
  const out = join(ctx.dir, 'result');
  rmSync(out, { force: true });
  const env = { ...process.env, PATH: `/usr/lib/postgresql/15/bin:${process.env.PATH}`, PGO_HOST: '127.0.0.1', PGO_PORT: String(ctx.s.port), PGPASSWORD: PASSWORD, PGO_RESULT_FILE: out };
  const args = ['-c', LOAD_JOB_SCRIPT, 'load', 'postgres', spec.fileType, join(ctx.dir, spec.file), loadScript(spec, ctx.dir), badJsonLineScript(spec, ctx.dir)];
  const code = await run('bash', args, { env }).then(() => 0, (err: { code?: number }) => err.code ?? -1);
  return { code, outcome: loadOutcome(readFileSync(out, 'utf8')) };
}

test('csv with a header: every row, in one statement; the count is reported', async (ctx) => {
  const lines = ['id,item,qty,at', ...Array.from({ length: 1000 }, (_, i) => `${i + 1},"item, ""${i + 1}""",${i % 7},2026-12-01 10:00:00+00`)];
  writeFileSync(join(ctx.dir, 'a.csv'), `${lines.join('\n')}\n`);
  const r = await load(ctx, { file: 'a.csv', header: true });
  assert.equal(r, { code: 0, outcome: { rows: 1000 } });
  assert.is(await count(ctx), 1000);
  assert.equal((await sql(ctx, 'select item, qty from orders where id = 3')).rows[0], { item: 'item, "3"', qty: 2 });
});

test('csv with a bad row: nothing is loaded, and the error names its line', async (ctx) => {
  writeFileSync(join(ctx.dir, 'b.csv'), '2001,x,1,2026-12-01\n2002,y,1,2026-12-01\n2003,z,many,2026-12-01\n2004,w,1,2026-12-01\n');
  const r = await load(ctx, { file: 'b.csv' });
  assert.is.not(r.code, 0);
  assert.equal(r.outcome, { error: 'invalid input syntax for type integer: "many"', line: 3 });
  assert.is(await count(ctx), 1000);
});

test('json lines: keys fill their columns, other keys are ignored, a missing column keeps its default', async (ctx) => {
  writeFileSync(join(ctx.dir, 'c.json'), '{"id": 3001, "item": "a \\"quoted\\" \\\\ item", "extra": true}\n\n{"id": 3002, "item": "b"}\n');
  const r = await load(ctx, { file: 'c.json', fileType: 'json' });
  assert.equal(r, { code: 0, outcome: { rows: 2 } });
  assert.equal((await sql(ctx, 'select id, item, qty, at is not null as at from orders where id > 3000 order by id')).rows, [
    { id: 3001, item: 'a "quoted" \\ item', qty: 1, at: true },
    { id: 3002, item: 'b', qty: 1, at: true },
  ]);
});

test('json lines with a line that is not an object: nothing is loaded, and its line is named', async (ctx) => {
  writeFileSync(join(ctx.dir, 'd.json'), '{"id": 4001, "item": "a"}\n{"id": 4002, "item": "b"}\n{"id": 4003, item: c}\n{"id": 4004, "item": "d"}\n');
  const r = await load(ctx, { file: 'd.json', fileType: 'json' });
  assert.is.not(r.code, 0);
  assert.is((r.outcome as { line?: number }).line, 3);
  assert.match((r.outcome as { error: string }).error, /invalid input syntax for type json/);
  writeFileSync(join(ctx.dir, 'e.json'), '{"id": 4001, "item": "a"}\n[1, 2]\n');
  const e = await load(ctx, { file: 'e.json', fileType: 'json' });
  assert.equal(e.outcome, { error: 'not a JSON object', line: 2 });
  writeFileSync(join(ctx.dir, 'f.json'), '{"nope": 1}\n');
  const f = await load(ctx, { file: 'f.json', fileType: 'json' });
  assert.equal(f.outcome, { error: 'no key of the JSON objects is a column of orders: each line must be an object whose keys are column names' });
  assert.is(await count(ctx), 1002);
});

test('rows are written as the role asked for: without INSERT on the table it is refused', async (ctx) => {
  writeFileSync(join(ctx.dir, 'g.csv'), '5001,x,1,2026-12-01\n');
  const r = await load(ctx, { file: 'g.csv', user: 'reader' });
  assert.equal(r.outcome, { error: 'permission denied for table orders' });
  assert.is(await count(ctx), 1002);
  const missing = await load(ctx, { file: 'no/such.csv' });
  assert.is(missing.code, 2);
  assert.match((missing.outcome as { error: string }).error, /^no such file .*no\/such\.csv$/);
});

test.run();
