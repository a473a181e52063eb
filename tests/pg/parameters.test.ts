/** Parameters on real PostgreSQL 15: a refused one names itself and leaves the last good configuration in place. */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ParameterRejected, applyParameters, withInstance } from '../../src/pg/instance.ts';
import { startPrimary, type PgServer } from '../harness/pg.ts';

const test = suite<{ pg: PgServer }>('parameters on real PostgreSQL');
const show = (s: PgServer, name: string) => withInstance(s.endpoint, async (c) => (await c.query<{ v: string }>(`select current_setting($1) as v`, [name])).rows[0]!.v);
const autoConf = (s: PgServer) => readFileSync(`${s.dir}/data/postgresql.auto.conf`, 'utf8');

test.before(async (ctx) => {
  ctx.pg = await startPrimary('params');
});
test.after(async (ctx) => {
  await ctx.pg?.destroy();
});

test('good parameters are written and reloaded', async ({ pg }) => {
  await withInstance(pg.endpoint, (c) => applyParameters(c, { work_mem: '16MB', log_min_duration_statement: '250' }));
  assert.is(await show(pg, 'work_mem'), '16MB');
  assert.match(autoConf(pg), /work_mem = '16MB'/);
});

for (const [what, parameters, name] of [
  ['a bad unit', { work_mem: '32MB', shared_buffers: '12 parsecs' }, 'shared_buffers'],
  ['an unknown name', { work_mem: '32MB', wrok_mem: '1MB' }, 'wrok_mem'],
  ['a value out of range', { max_connections: '-5' }, 'max_connections'],
  ['a parameter that cannot be set', { work_mem: '32MB', data_directory: '/tmp' }, 'data_directory'],
] as const) {
  test(`${what} is refused, named, and the last good configuration stays`, async ({ pg }) => {
    const before = autoConf(pg);
    const err = await withInstance(pg.endpoint, (c) => applyParameters(c, parameters)).catch((e: unknown) => e);
    assert.instance(err, ParameterRejected);
    assert.is((err as ParameterRejected).parameter, name);
    assert.ok((err as Error).message.length > 0);
    assert.is(autoConf(pg), before, 'postgresql.auto.conf changed');
    assert.is(await show(pg, 'work_mem'), '16MB');
  });
}

test.run();
