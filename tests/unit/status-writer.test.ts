import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StatusWriter } from '../../src/actors/status-writer.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';
import type { CustomResources } from '../../src/k8s/custom.ts';

/** A writer over an in-memory status whose writes each take 20 ms; `state` is what the next write computes. */
function writer(fail = () => false) {
  const writes: string[] = [];
  let state = 's0';
  const cluster = { metadata: { namespace: 'ns', name: 'c' }, status: { state: 'none' } } as PgClusterResource;
  const clusters = {
    updateStatus: async (_ns: string, _name: string, next: (c: PgClusterResource) => PgClusterResource['status']) => {
      const status = next(cluster)!.state!;
      await sleep(20);
      if (fail()) throw new Error('conflict');
      writes.push(status);
    },
  } as unknown as CustomResources<PgClusterResource>;
  const w = new StatusWriter(clusters, () => cluster, () => ({ state }));
  return { w, writes, set: (s: string) => (state = s) };
}

test('a write resolves once a write that started after it is done, not after every later request', async () => {
  const { w, writes, set } = writer();
  set('s1');
  const first = w.write();
  // Requests keep coming while writes run (every observation asks for one): the first must not starve.
  let stop = false;
  const flood = (async () => {
    for (let i = 2; !stop; i++) {
      set(`s${i}`);
      void w.write();
      await sleep(5);
    }
  })();
  const started = Date.now();
  await first;
  const took = Date.now() - started;
  stop = true;
  await flood;
  assert.ok(took < 100, `resolved after ${took} ms`);
  assert.is(writes[0], 's1');
});

test('the state written is the one when the write runs; the newest request is always written last', async () => {
  const { w, writes, set } = writer();
  set('a');
  const one = w.write();
  set('b');
  const two = w.write();
  set('c');
  const three = w.write();
  await Promise.all([one, two, three]);
  assert.equal(writes, ['a', 'c'], 'the second write covers both later requests, with the latest state');
});

test('a failed write rejects those who asked before it; a later request gets its own write', async () => {
  let failing = true;
  const { w, writes, set } = writer(() => failing);
  set('x');
  const err = await w.write().catch((e: unknown) => e);
  assert.instance(err, Error);
  failing = false;
  set('y');
  await w.write();
  assert.equal(writes, ['y']);
});

test.run();
