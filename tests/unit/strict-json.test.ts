import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ambiguity } from '../../src/api/strict-json.ts';

// A fixed seed in CI: a failure is reproducible; `bench/fuzz.ts` runs longer with random seeds.
const seed = Number(process.env.PGO_FUZZ_SEED ?? 20261201);

test('duplicate keys are named with their path, at any depth', () => {
  assert.is(ambiguity('{"name":"a","name":"b"}'), 'duplicate key "name" at name: send each key once');
  assert.is(ambiguity('{"parameters":{"work_mem":"1MB","work_mem":"2MB"}}'), 'duplicate key "work_mem" at parameters.work_mem: send each key once');
  assert.is(ambiguity('{"a":[{"x":1},{"x":2,"x":3}]}'), 'duplicate key "x" at a.[].x: send each key once');
  // The same key in sibling objects, or as a value, is not a duplicate; escapes are decoded first.
  assert.is(ambiguity('{"a":{"k":1},"b":{"k":1},"c":"a"}'), undefined);
  assert.is(ambiguity('{"n\\u0061me":1,"name":2}'), 'duplicate key "name" at name: send each key once');
  assert.is(ambiguity('{"a\\"b":1,"c":"}{\\"a\\"b"}'), undefined);
});

test('__proto__ keys and numbers that cannot be read exactly are refused', () => {
  assert.ok(ambiguity('{"__proto__":{"admin":true}}')?.includes('__proto__'));
  assert.ok(ambiguity('{"replicaCount":9007199254740993}')?.includes('replicaCount'));
  assert.ok(ambiguity('{"replicaCount":1e400}')?.includes('cannot be represented'));
  assert.is(ambiguity('{"replicaCount":2,"ratio":-0.5e-3}'), undefined);
});

test('property: what JSON.stringify writes is never ambiguous, and a repeated key always is', () => {
  const json = fc.jsonValue({ maxDepth: 4 }).filter((v) => !JSON.stringify(v).includes('"__proto__"'));
  const small = fc.jsonValue({ maxDepth: 2 }).filter((v) => !JSON.stringify(v).includes('"__proto__"'));
  fc.assert(fc.property(json, (v) => ambiguity(JSON.stringify(v)) === undefined), { seed, numRuns: 500 });
  const dup = fc.tuple(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), small, small);
  fc.assert(
    fc.property(dup, ([k, a, b]) => {
      const text = `{${JSON.stringify(k)}:${JSON.stringify(a)},${JSON.stringify(k)}:${JSON.stringify(b)}}`;
      return ambiguity(text)?.startsWith(`duplicate key ${JSON.stringify(k)}`) === true;
    }),
    { seed, numRuns: 500 },
  );
});

test.run();
