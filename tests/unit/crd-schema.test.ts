import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCrd } from '../../src/crd/crd.ts';
import { crdFiles } from '../../src/crd/files.ts';
import { pgBackupSpec } from '../../src/crd/pgbackup.ts';
import { pgClusterSpec } from '../../src/crd/pgcluster.ts';
import { resourceList } from '../../src/crd/resources.ts';
import { ValidationError, parseSpec } from '../../src/crd/validate.ts';
import { invalidSpecs, validSpec } from '../fixtures/pgclusters.ts';

test('committed crds/*.yaml match what the zod schemas generate', () => {
  const files = crdFiles();
  assert.is(files.length, 6);
  for (const { path, text } of files) {
    assert.is(readFileSync(path, 'utf8'), text, `${path} is stale: run npm run gen:crds`);
  }
});

test('every CRD schema is structural: each property has a type, no additionalProperties:false', () => {
  const walk = (node: Record<string, unknown>, path: string) => {
    assert.ok(node.type !== undefined, `${path} has no type`);
    assert.is.not(node.additionalProperties, false, `${path} has additionalProperties: false`);
    for (const [k, v] of Object.entries((node.properties as Record<string, Record<string, unknown>>) ?? {})) walk(v, `${path}.${k}`);
    if (node.items) walk(node.items as Record<string, unknown>, `${path}[]`);
  };
  for (const def of resourceList) {
    const crd = buildCrd(def) as { spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
    walk(crd.spec.versions[0]!.schema.openAPIV3Schema, def.plural);
  }
});

test('a valid pgcluster spec parses and gets its defaults', () => {
  const spec = parseSpec(pgClusterSpec, validSpec, 'pgcluster hippo');
  assert.is(spec.replicas, 2);
  assert.is(spec.port, 5432);
  assert.is(spec.podAntiAffinity, 'preferred');
  assert.is(spec.storage.primary.accessMode, 'ReadWriteOnce');
  assert.is(spec.nodeAffinity?.type, 'preferred');
  const minimal = parseSpec(pgClusterSpec, {}, 'pgcluster hippo');
  assert.is(minimal.storage.primary.size, '1Gi');
  assert.is(minimal.disableAutofail, undefined); // unset: the operator's default (PGO_AUTOFAIL) applies
});

for (const { name, spec, field } of invalidSpecs) {
  test(`zod rejects a pgcluster with a ${name}, naming ${field}`, () => {
    try {
      parseSpec(pgClusterSpec, spec, 'pgcluster hippo');
      assert.unreachable('should have thrown');
    } catch (err) {
      assert.instance(err, ValidationError);
      const issues = (err as ValidationError).issues;
      assert.is(issues.length, 1, issues.join('; '));
      assert.ok(issues[0]!.startsWith(`${field}: `), issues[0]);
    }
  });
}

test('zod rejects unknown fields and says which', () => {
  assert.throws(() => parseSpec(pgClusterSpec, { replica: 2 }, 'pgcluster hippo'), /spec: Unrecognized key: "replica"/);
});

test('backup types are an enum', () => {
  assert.is(parseSpec(pgBackupSpec, { clusterName: 'hippo', type: 'incr' }, 'pgbackup').type, 'incr');
  assert.throws(() => parseSpec(pgBackupSpec, { clusterName: 'hippo', type: 'weekly' }, 'pgbackup'), /spec\.type: /);
});

test.run();
