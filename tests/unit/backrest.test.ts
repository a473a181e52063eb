import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backrestError, defaultType, dependents, newBackupLabel, parseInfo } from '../../src/backrest/info.ts';
import { backrestConfigFiles, certificateHosts, databasePodBackrest, pgHostArgs, repoHostDeployment } from '../../src/backrest/objects.ts';
import { OptionError, checkOptionsForType, parseBackupOptions } from '../../src/backrest/options.ts';
import { pgClusterSpec } from '../../src/crd/pgcluster.ts';
import type { PgClusterResource } from '../../src/crd/types.ts';

function cluster(spec: unknown = {}): PgClusterResource {
  return { apiVersion: 'pg-operator.dev/v1', kind: 'PGCluster', metadata: { name: 'hippo', namespace: 'db', uid: 'u1' }, spec: pgClusterSpec.parse(spec) };
}
const s3 = { bucket: 'pgo-backups', endpoint: '10.200.0.1:8333', region: 'us-east-1', uriStyle: 'path', credentialsSecret: 'hippo-s3', caSecret: 'hippo-s3-ca' };

test('the database pods push WAL to the repository host over TLS and serve pgBackRest to it', () => {
  const { db, repo } = backrestConfigFiles(cluster());
  assert.match(db, /^repo1-host=hippo-backrest-shared-repo\.db\.svc$/m);
  assert.match(db, /^repo1-host-type=tls$/m);
  assert.match(db, /^repo1-path=\/pgbackrest\/repo1$/m);
  assert.match(db, /^tls-server-auth=hippo-repo-host=db$/m);
  assert.match(db, /^archive-async=y$/m);
  assert.match(repo, /^tls-server-auth=hippo-db=db$/m);
  assert.match(repo, /^repo1-retention-full=2$/m);
  assert.not.match(db, /retention/);
  assert.not.match(db + repo, /repo2/);
});

test('an S3 repository is repo2 with the endpoint port split out, the CA file, and keys only from the environment', () => {
  const c = cluster({ backrest: { storageType: 'posix,s3', s3, retentionFull: 3 } });
  const { db, repo } = backrestConfigFiles(c);
  for (const conf of [db, repo]) {
    assert.match(conf, /^repo2-type=s3$/m);
    assert.match(conf, /^repo2-s3-endpoint=10\.200\.0\.1$/m);
    assert.match(conf, /^repo2-storage-port=8333$/m);
    assert.match(conf, /^repo2-s3-uri-style=path$/m);
    assert.match(conf, /^repo2-path=\/db\/hippo$/m);
    assert.match(conf, /^repo2-storage-ca-file=/m);
    assert.not.match(conf, /key-secret/);
  }
  assert.match(repo, /^repo2-retention-full=3$/m);
  const env = repoHostDeployment(c).spec!.template.spec!.containers[0]!.env!;
  assert.equal(env.find((e) => e.name === 'PGBACKREST_REPO2_S3_KEY_SECRET')?.valueFrom?.secretKeyRef, { name: 'hippo-s3', key: 'aws-s3-key-secret' });
});

test('storageType s3 without s3 settings is refused with the message', () => {
  assert.throws(() => pgClusterSpec.parse({ backrest: { storageType: 's3' } }), /spec\.backrest\.s3 .* is required/);
});

test('each instance gets a DNS name under the headless Service, covered by the wildcard certificate', () => {
  const pod = databasePodBackrest(cluster(), 'hippo-abcd', 'img');
  assert.equal(pod.pod.hostname, 'hippo-abcd-pgbr');
  assert.equal(pod.pod.subdomain, 'hippo-pods');
  assert.ok(certificateHosts('hippo', 'db').db.includes('*.hippo-pods.db.svc'));
  assert.ok(pgHostArgs(cluster(), 1, 'hippo-abcd').includes('--pg1-host=hippo-abcd-pgbr.hippo-pods.db.svc'));
  // Keys readable by the postgres group only.
  const certs = pod.volumes.find((v) => v.name === 'pgbackrest-certs')!;
  assert.is(certs.secret!.defaultMode, 0o640);
  assert.equal(certs.secret!.items!.map((i) => i.key), ['ca.crt', 'db.crt', 'db.key']);
});

test('--backup-opts accepts only whitelisted options, naming the one refused', () => {
  assert.equal(parseBackupOptions('--type=full --start-fast --process-max 2 --no-resume'), [
    { name: 'type', value: 'full' }, { name: 'start-fast' }, { name: 'process-max', value: '2' }, { name: 'no-resume' },
  ]);
  assert.equal(parseBackupOptions(''), []);
  const refused: [string, RegExp][] = [
    ['--repo1-path=/tmp', /option --repo1-path is not allowed/],
    ['--pg1-host=evil', /option --pg1-host is not allowed/],
    ['--stanza=x', /option --stanza is not allowed/],
    ['--type=weekly', /--type must be one of full, diff, incr/],
    ['--process-max=two', /whole number/],
    ['--exclude=$(rm -rf /)', /path pattern/],
    ['type=full', /is not an option/],
    ['--type=full --type=incr', /given twice/],
    ['--start-fast=maybe', /takes no value/],
    ['--force', /option --force is not allowed/],
    ['--buffer-size=3000', /--buffer-size must be one of 16KiB/],
  ];
  assert.equal(parseBackupOptions('--buffer-size=1MiB --exclude=a --exclude=b'), [{ name: 'buffer-size', value: '1MiB' }, { name: 'exclude', value: 'a' }, { name: 'exclude', value: 'b' }]);
  assert.throws(() => checkOptionsForType(parseBackupOptions('--compress-type=lz4'), 'incr'), /only changes a full backup/);
  checkOptionsForType(parseBackupOptions('--compress-type=lz4'), 'full');
  for (const [text, re] of refused) assert.throws(() => parseBackupOptions(text), (e: Error) => e instanceof OptionError && re.test(e.message), text);
});

// pgbackrest 2.45 `info --output=json`: the full set as printed on this machine, an incremental set added in its format.
const INFO = '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000006","min":"000000010000000000000001"}],"backup":[{"annotation":{"pg-operator.dev/pgbackup":"b1"},"archive":{"start":"000000010000000000000004","stop":"000000010000000000000004"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":22992541,"repository":{"delta":3043453,"size":3043453},"size":22992541},"label":"20261202-030043F","lsn":{"start":"0/4000028","stop":"0/4000100"},"prior":null,"reference":null,"timestamp":{"start":1796180443,"stop":1796180446},"type":"full"},{"archive":{"start":"000000010000000000000006","stop":"000000010000000000000006"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":8192,"repository":{"delta":410,"size":3043453},"size":22992541},"label":"20261202-030043F_20261202-030050I","lsn":{"start":"0/6000028","stop":"0/6000100"},"prior":"20261202-030043F","reference":["20261202-030043F"],"timestamp":{"start":1796180450,"stop":1796180452},"type":"incr"}],"cipher":"none","db":[{"id":1,"repo-key":1,"system-id":7714534893086886605,"version":"15"}],"name":"db","repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]';

test('info: the 64-bit system id survives, sets and dependents are read', () => {
  const [stanza] = parseInfo(INFO);
  assert.is(stanza!.db[0]!['system-id'], '7714534893086886605');
  assert.equal(dependents(stanza, '20261202-030043F'), ['20261202-030043F_20261202-030050I']);
  assert.is(defaultType(stanza, 1), 'incr');
  assert.is(defaultType(stanza, 2), 'full');
  assert.is(defaultType(undefined, 1), 'full');
  assert.is(stanza!.backup[0]!.annotation?.['pg-operator.dev/pgbackup'], 'b1');
});

test('the new label and pgBackRest errors are read from its log', () => {
  assert.is(newBackupLabel('2026-12-02 03:00:46.745 P00   INFO: new backup label = 20261202-030043F\n'), '20261202-030043F');
  const log = 'INFO: backup command begin\nERROR: [056]: unable to find primary cluster - cannot proceed\n       HINT: are all available clusters in recovery?\nINFO: backup command end: aborted with exception [056]\n';
  assert.is(backrestError(log), 'ERROR: [056]: unable to find primary cluster - cannot proceed HINT: are all available clusters in recovery?');
  assert.is(backrestError('all good'), undefined);
  const refused = 'WARN: unable to check pg1: [DbConnectError] unable to connect to \'dbname=\'postgres\' port=5999\'\nERROR: [056]: unable to find primary cluster - cannot proceed\n';
  assert.match(backrestError(refused)!, /\[056\].*WARN: unable to check pg1: \[DbConnectError\] unable to connect/);
});


test('archiving fails when the newest attempt failed; pg_wal filling its volume is flagged at the threshold', async () => {
  const { judgeArchiving } = await import('../../src/backrest/archive-health.ts');
  const now = new Date('2026-12-01T10:00:00Z');
  const t = (s: number) => new Date(now.getTime() - s * 1000);
  const ok = judgeArchiving({ lastArchivedWAL: '000000020000000000000009', lastArchivedTime: t(12), failedCount: 3, lastFailedWAL: '000000010000000000000004', lastFailedTime: t(600), walBytes: 80 << 20, volumeBytes: 1 << 30 }, 80, now);
  assert.equal([ok.ok, ok.reason, ok.walFilling, ok.walPercent], [true, 'Archiving', false, 8]);
  assert.match(ok.message, /last archived 000000020000000000000009 12 s ago/);
  const bad = judgeArchiving({ lastArchivedWAL: '000000020000000000000009', lastArchivedTime: t(300), failedCount: 7, lastFailedWAL: '00000002000000000000000A', lastFailedTime: t(5), walBytes: 870 << 20, volumeBytes: 1 << 30, pushError: 'ERROR [039]: HTTP request failed with 403 (Forbidden)' }, 80, now);
  assert.equal([bad.ok, bad.reason, bad.walFilling, bad.walPercent], [false, 'ArchiveFailing', true, 85]);
  assert.match(bad.message, /archiving 00000002000000000000000A failed 5 s ago \(7 failures\).*403 \(Forbidden\).*85% of the volume \(warning at 80%\)/);
  assert.is(judgeArchiving({ failedCount: 0, walBytes: 0 }, 80, now).reason, 'NothingArchivedYet');
});

test("an S3 error keeps pgBackRest's message and the S3 code, not the HTTP dump", async () => {
  const { shortBackrestError } = await import('../../src/backrest/info.ts');
  const text = "ERROR [103]: unable to find a valid repository: repo2: [ProtocolError] unable to load info file '/demo/zebra/archive/db/archive.info': ProtocolError: HTTP request failed with 403 (Forbidden): *** Path/Query ***: GET /x *** Request Headers ***: authorization: <redacted> *** Response Content ***: <?xml version=\"1.0\"?> <Error><Code>InvalidAccessKeyId</Code><Message>The access key ID you provided does not exist in our records.</Message></Error>";
  assert.is(shortBackrestError(text), "ERROR [103]: unable to find a valid repository: repo2: [ProtocolError] unable to load info file '/demo/zebra/archive/db/archive.info': ProtocolError: HTTP request failed with 403 (Forbidden) (S3: InvalidAccessKeyId: The access key ID you provided does not exist in our records.)");
  assert.is(shortBackrestError('ERROR: [056]: unable to find primary cluster'), 'ERROR: [056]: unable to find primary cluster');
});

test('a dump runs as a Job against the primary Service, writing to the volume, with whitelisted options only', async () => {
  const { dumpJob, dumpOptions } = await import('../../src/actors/pgdump.ts');
  const c = cluster();
  const backup = { apiVersion: 'pg-operator.dev/v1', kind: 'PGBackup', metadata: { name: 'b1', namespace: 'db', uid: 'u2' }, spec: { clusterName: 'hippo', type: 'pgdump' as const } };
  const job = dumpJob(c, backup, 'hippo-pgdump-pvc', dumpOptions('--no-owner --schema=public'));
  const container = job.spec!.template.spec!.containers[0]!;
  const args = container.command!.slice(4);
  assert.equal(args.slice(0, 8), ['pg_dump', '-h', 'hippo', '-p', '5432', '-U', 'postgres', '-Fc']);
  assert.ok(args.includes('--no-owner') && args.includes('--schema=public'));
  assert.is(args[args.length - 1], 'userdb');
  assert.is(job.spec!.template.spec!.volumes![0]!.persistentVolumeClaim!.claimName, 'hippo-pgdump-pvc');
  assert.is(job.metadata!.ownerReferences![0]!.kind, 'PGBackup');
  const all = dumpJob(c, { ...backup, spec: { ...backup.spec, dumpAll: true } }, 'v', []);
  assert.is(all.spec!.template.spec!.containers[0]!.command![4], 'pg_dumpall');
  for (const bad of ['--file=/etc/passwd', '-f x', '--table=a;drop', '--rows-per-insert=1']) assert.throws(() => dumpOptions(bad), /is not allowed/, bad);
});

test('a bounded archive queue only when asked (it drops WAL past the bound)', () => {
  assert.not.match(backrestConfigFiles(cluster()).db, /archive-push-queue-max/);
  assert.match(backrestConfigFiles(cluster({ backrest: { archivePushQueueMax: '2Gi' } })).db, /^archive-push-queue-max=2GiB$/m);
});

test.run();
