import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bashCompletion } from '../../cli/completion.ts';
import { CliError, loadConfig, parseCredentials } from '../../cli/config.ts';
import { bytes, formatCandidates, formatCluster, formatDf, formatTest, parsePairs, table } from '../../cli/format.ts';

test('credentials file: user:password, password may contain colons', () => {
  assert.equal(parseCredentials('admin:s3:cret\n', 'f'), { user: 'admin', password: 's3:cret' });
  assert.throws(() => parseCredentials('nocolon', 'f'), (e: unknown) => e instanceof CliError);
});

test('configuration: URL required and https only; env credentials', () => {
  assert.throws(() => loadConfig({}, {}), /PGO_APISERVER_URL is not set/);
  assert.throws(() => loadConfig({}, { PGO_APISERVER_URL: 'http://x:8443' }), /https/);
  const cfg = loadConfig({ namespace: 'ns1' }, { PGO_APISERVER_URL: 'https://x:8443/', PGOUSERNAME: 'u', PGOUSERPASS: 'p' });
  assert.equal(cfg, { url: 'https://x:8443', namespace: 'ns1', ca: undefined, user: 'u', password: 'p' });
  assert.is(loadConfig({}, { PGO_APISERVER_URL: 'https://x', PGOUSERNAME: 'u', PGOUSERPASS: 'p', PGO_NAMESPACE: 'env-ns' }).namespace, 'env-ns');
});

test('key=value flags, repeatable and comma-separated', () => {
  assert.equal(parsePairs(['a=1,b=2', 'c=x=y'], 'label'), { a: '1', b: '2', c: 'x=y' });
  assert.equal(parsePairs(undefined, 'label'), {});
  assert.throws(() => parsePairs('novalue', 'label'), /--label takes key=value/);
});

test('sizes and tables', () => {
  assert.is(bytes(512), '512 B');
  assert.is(bytes(1536), '1.5 KiB');
  assert.is(bytes(undefined), '-');
  assert.is(table(['A', 'BB'], [['xxx', 'y']]), 'A    BB\nxxx  y');
});

const cluster = {
  name: 'hippo', namespace: 'ns', phase: 'Ready', state: 'monitoring.ready', image: 'img:15', replicas: ['hippo-abcd'], readyInstances: 2,
  instances: [{ name: 'hippo', role: 'primary', ready: true, node: 'node1', podIP: '10.0.0.1' }, { name: 'hippo-abcd', role: 'replica', ready: true, node: 'node2', lagBytes: 0 }],
  services: [{ name: 'hippo', type: 'ClusterIP', clusterIP: '10.96.0.5' }], storage: { primary: '1Gi', replica: '1Gi' }, resources: {}, labels: { env: 'dev' }, disableAutofail: false, shutdown: false,
};

test('show cluster in the v4 layout', () => {
  const out = formatCluster(cluster);
  assert.match(out, /^cluster : hippo \(img:15\)\n\tphase : Ready \(monitoring\.ready\)/);
  assert.match(out, /\tinstance : hippo \(primary\) on node1 ready \(10\.0\.0\.1\)/);
  assert.match(out, /\tinstance : hippo-abcd \(replica\) on node2 ready lag 0 B/);
  assert.match(out, /\tservice : hippo - ClusterIP \(10\.96\.0\.5\)/);
  assert.match(out, /\tlabels : env=dev$/);
});

test('candidates, test and df outputs', () => {
  const c = formatCandidates({ cluster: 'hippo', primary: 'hippo', replicas: [{ name: 'hippo-abcd', ready: true, node: 'node2', lagBytes: 0, timeline: 1 }] }, 'failover');
  assert.match(c, /REPLICA\s+STATUS\s+NODE\s+REPLICATION LAG\s+TIMELINE\nhippo-abcd\s+running\s+node2\s+0 B\s+1/);
  assert.match(formatCandidates({ cluster: 'x', replicas: [] }, 'scaledown'), /no replicas/);
  const t = formatTest({ cluster: 'hippo', services: [{ name: 'hippo', role: 'primary', address: '10.96.0.5:5432', up: true }], instances: [{ name: 'hippo', role: 'primary', up: false, error: 'timeout' }] });
  assert.match(t, /\t\tprimary \(10\.96\.0\.5:5432\): UP\n\tInstances\n\t\tprimary \(hippo\): DOWN - timeout/);
  const d = formatDf({ cluster: 'hippo', instances: [{ name: 'hippo', role: 'primary', up: true, databaseBytes: 2 ** 20, capacityBytes: 2 ** 30 }] });
  assert.match(d, /hippo\s+primary\s+up\s+1\.0 MiB\s+1\.0 GiB\s+0\.1%/);
});

test('bash completion lists the verbs', () => {
  const s = bashCompletion();
  for (const verb of ['create', 'scaledown', 'failover', 'watch', 'pgouser']) assert.ok(s.includes(verb), verb);
});

test.run();
