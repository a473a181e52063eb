import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInfo } from '../../src/backrest/info.ts';
import { OptionError } from '../../src/backrest/options.ts';
import { RESTORE_OPTIONS, RestoreRefused, parseRestoreOptions, planRestore, restoreRequest } from '../../src/backrest/restore-plan.ts';
import { restoreSpec, type RestoreSpec } from '../../src/crd/restore.ts';

// pgbackrest 2.45 `info --output=json` with two repositories, in its format: repo1 holds a full set
// (finished 09:12:03), an incr on it (10:15:30) and an incr in error (11:00:40); repo2 a full set (09:31:10).
const set = (label: string, type: string, repo: number, start: number, stop: number, lsn: [string, string], wal: string, extra = '') =>
  `{"archive":{"start":"${wal}","stop":"${wal}"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":${repo}},${extra}"info":{"delta":22992541,"repository":{"delta":3043453,"size":3043453},"size":22992541},"label":"${label}","lsn":{"start":"${lsn[0]}","stop":"${lsn[1]}"},` +
  `"prior":${type === 'full' ? 'null' : '"20261201-091000F"'},"reference":${type === 'full' ? 'null' : '["20261201-091000F"]'},"timestamp":{"start":${start},"stop":${stop}},"type":"${type}"}`;
const INFO =
  '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"00000001000000000000000A","min":"000000010000000000000004"},{"database":{"id":1,"repo-key":2},"id":"15-1","max":"00000001000000000000000A","min":"000000010000000000000005"}],"backup":[' +
  [
    set('20261201-091000F', 'full', 1, 1796116200, 1796116323, ['0/4000028', '0/4000100'], '000000010000000000000004', '"annotation":{"pg-operator.dev/pgbackup":"b1"},"error":false,'),
    set('20261201-093000F', 'full', 2, 1796117400, 1796117470, ['0/5000028', '0/5000100'], '000000010000000000000005', '"error":false,'),
    set('20261201-091000F_20261201-101500I', 'incr', 1, 1796120100, 1796120130, ['0/6000028', '0/6000100'], '000000010000000000000006', '"error":false,'),
    set('20261201-091000F_20261201-110000I', 'incr', 1, 1796122800, 1796122840, ['0/A000028', '0/A000100'], '00000001000000000000000A', '"error":true,'),
  ].join(',') +
  '],"cipher":"none","db":[{"id":1,"repo-key":1,"system-id":7714534893086886605,"version":"15"},{"id":1,"repo-key":2,"system-id":7714534893086886605,"version":"15"}],"name":"db",' +
  '"repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}},{"cipher":"none","key":2,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]';

const [stanza] = parseInfo(INFO);
const now = new Date('2026-12-01T12:00:00Z');
const facts = { stanza, repos: [1, 2], now };
const spec = (s: Partial<RestoreSpec> = {}): RestoreSpec => restoreSpec.parse(s);
const FULL1 = '20261201-091000F';
const INCR1 = '20261201-091000F_20261201-101500I';
const FULL2 = '20261201-093000F';
const refusal = (re: RegExp, label: string) => (e: Error) => {
  if (!(e instanceof RestoreRefused)) throw new Error(`${label}: expected RestoreRefused, got ${e.name}: ${e.message}`);
  if (!re.test(e.message)) throw new Error(`${label}: "${e.message}" does not match ${re}`);
  return true;
};

test('the fixture reads as two repositories with the error set present', () => {
  assert.is(stanza!.backup.length, 4);
  assert.equal(stanza!.backup.filter((b) => b.error).map((b) => b.label), ['20261201-091000F_20261201-110000I']);
});

test('each type passes its arguments and chooses its set', () => {
  const rows: [string, Partial<RestoreSpec>, string, string[]][] = [
    // default and immediate: the latest set that did not fail (not the error set at 11:00).
    ['default', {}, INCR1, []],
    ['default repo2', { repo: 2 }, FULL2, []],
    ['default given set', { set: FULL1 }, FULL1, []],
    ['immediate', { type: 'immediate' }, INCR1, ['--type=immediate', '--target-action=promote']],
    // time: the latest set that finished at or before the target; no zone is UTC; zones are normalised.
    ['time before the incr', { type: 'time', target: '2026-12-01 10:00:00' }, FULL1, ['--type=time', '--target=2026-12-01 10:00:00+00', '--target-action=promote']],
    ['time at the incr stop', { type: 'time', target: '2026-12-01 10:15:30Z' }, INCR1, ['--type=time', '--target=2026-12-01 10:15:30+00', '--target-action=promote']],
    ['time a microsecond before', { type: 'time', target: '2026-12-01 10:15:29.999999 UTC' }, FULL1, ['--type=time', '--target=2026-12-01 10:15:29.999999+00', '--target-action=promote']],
    ['time -0800', { type: 'time', target: '2026-12-01 02:20:00-0800' }, INCR1, ['--type=time', '--target=2026-12-01 02:20:00-08', '--target-action=promote']],
    ['time +05:30', { type: 'time', target: '2026-12-01 15:40:00+05:30' }, FULL1, ['--type=time', '--target=2026-12-01 15:40:00+05:30', '--target-action=promote']],
    ['time +0545', { type: 'time', target: '2026-12-01 16:05:00+0545' }, INCR1, ['--type=time', '--target=2026-12-01 16:05:00+05:45', '--target-action=promote']],
    ['time -00', { type: 'time', target: '2026-12-01 10:20:00-00' }, INCR1, ['--type=time', '--target=2026-12-01 10:20:00+00', '--target-action=promote']],
    ['time exclusive', { type: 'time', target: '2026-12-01 10:20:00+00', targetExclusive: true }, INCR1, ['--type=time', '--target=2026-12-01 10:20:00+00', '--target-action=promote', '--target-exclusive']],
    ['time repo2', { type: 'time', target: '2026-12-01 11:00:00+00', repo: 2 }, FULL2, ['--type=time', '--target=2026-12-01 11:00:00+00', '--target-action=promote']],
    ['time given older set', { type: 'time', target: '2026-12-01 10:20:00+00', set: FULL1 }, FULL1, ['--type=time', '--target=2026-12-01 10:20:00+00', '--target-action=promote']],
    // lsn: compared as numbers (0/10000000 is after 0/6000100; as text it sorts before).
    ['lsn after the incr', { type: 'lsn', target: '0/10000000' }, INCR1, ['--type=lsn', '--target=0/10000000', '--target-action=promote']],
    ['lsn just before the incr, lower case', { type: 'lsn', target: '0/60000ff' }, FULL1, ['--type=lsn', '--target=0/60000FF', '--target-action=promote']],
    ['lsn at the full stop', { type: 'lsn', target: '0/4000100' }, FULL1, ['--type=lsn', '--target=0/4000100', '--target-action=promote']],
    ['lsn with the high word set', { type: 'lsn', target: '1/0', targetExclusive: true }, INCR1, ['--type=lsn', '--target=1/0', '--target-action=promote', '--target-exclusive']],
    // xid and name: the latest set.
    ['xid', { type: 'xid', target: '1234' }, INCR1, ['--type=xid', '--target=1234', '--target-action=promote']],
    ['xid leading zeros, exclusive', { type: 'xid', target: '007', targetExclusive: true }, INCR1, ['--type=xid', '--target=7', '--target-action=promote', '--target-exclusive']],
    ['xid 64-bit', { type: 'xid', target: '18446744073709551615' }, INCR1, ['--type=xid', '--target=18446744073709551615', '--target-action=promote']],
    ['name', { type: 'name', target: 'before-migration' }, INCR1, ['--type=name', '--target=before-migration', '--target-action=promote']],
    ['name given set', { type: 'name', target: 'before migration', set: FULL1 }, FULL1, ['--type=name', '--target=before migration', '--target-action=promote']],
  ];
  for (const [label, s, chosen, rest] of rows) {
    const plan = planRestore(spec(s), facts);
    const repo = s.repo ?? 1;
    assert.equal(plan, { ...plan, set: chosen, repo }, label);
    assert.equal(plan.args, [`--repo=${repo}`, `--set=${chosen}`, ...rest], label);
    assert.ok(plan.description.includes(`backup ${chosen} (`) && plan.description.includes(`from repo${repo}, then`), `${label}: ${plan.description}`);
  }
});

test('the description says what is restored and what is replayed, in one sentence', () => {
  const d = (s: Partial<RestoreSpec>, f = facts) => planRestore(spec(s), f).description;
  assert.is(d({}), `restores incremental backup ${INCR1} (finished 2026-12-01 10:15:30 UTC) from repo1, then replays all archived WAL and promotes`);
  assert.is(d({ type: 'time', target: '2026-12-01 10:20:00+00' }), `restores incremental backup ${INCR1} (finished 2026-12-01 10:15:30 UTC) from repo1, then replays WAL to 2026-12-01 10:20:00+00 and promotes; writes committed after that are not kept`);
  assert.is(d({ type: 'time', target: '2026-12-01 10:00:00', repo: 2 }), `restores full backup ${FULL2} (finished 2026-12-01 09:31:10 UTC) from repo2, then replays WAL to 2026-12-01 10:00:00+00 (no zone given: read as UTC) and promotes; writes committed after that are not kept`);
  assert.match(d({ type: 'time', target: '2026-12-01 02:20:00.5-0800', targetExclusive: true }), /replays WAL to just before 2026-12-01 02:20:00\.5-08 \(2026-12-01 10:20:00\.5 UTC\) and promotes/);
  assert.match(d({ type: 'immediate' }), /then replays only the WAL that makes it consistent and promotes; writes committed after the backup are not kept$/);
  assert.match(d({ type: 'lsn', target: '0/10000000' }), /replays WAL to LSN 0\/10000000 and promotes/);
  assert.match(d({ type: 'xid', target: '1234' }), /replays WAL through transaction 1234 and promotes.*choose an earlier set with --set$/);
  assert.match(d({ type: 'xid', target: '1234', targetExclusive: true }), /replays WAL to just before transaction 1234 and/);
  assert.match(d({ type: 'name', target: 'before-migration', set: FULL1 }), /^restores full backup 20261201-091000F \(finished 2026-12-01 09:12:03 UTC\) from repo1, then replays WAL to restore point "before-migration" and promotes; writes committed after it are not kept$/);
});

test('every refusal says what is wrong, naming the value', () => {
  const rows: [Partial<RestoreSpec>, RegExp, Partial<typeof facts>?][] = [
    [{}, /^this cluster has no pgBackRest repository configured/, { repos: [] }],
    [{ repo: 2 }, /^repo2 is not configured for this cluster \(configured: repo1\): choose --repo=1$/, { repos: [1] }],
    [{}, /^no backup in repo1 yet: take one with pgo backup CLUSTER$/, { stanza: undefined }],
    [{ type: 'time' }, /^--type=time needs a target: give one with --pitr-target or --target, e\.g\. 2026-12-01 10:00:00\+00$/],
    [{ type: 'lsn' }, /^--type=lsn needs a target.*0\/3000060$/],
    [{ type: 'xid' }, /^--type=xid needs a target/],
    [{ type: 'name' }, /^--type=name needs a target/],
    [{ target: '0/3000060' }, /^--type=default takes no target, got "0\/3000060": drop the target/],
    [{ type: 'immediate', target: 'x' }, /^--type=immediate takes no target, got "x"/],
    [{ type: 'immediate', targetExclusive: true }, /^--target-exclusive needs a target/],
    [{ type: 'name', target: 'p1', targetExclusive: true }, /^--target-exclusive does not apply to --type=name/],
    [{ type: 'time', target: '2026-12-01T10:00:00Z' }, /^the target "2026-12-01T10:00:00Z" is not a time: write YYYY-MM-DD HH:MM:SS\[\.ffffff\] with an optional zone/],
    [{ type: 'time', target: 'yesterday' }, /^the target "yesterday" is not a time/],
    [{ type: 'time', target: '2026-02-30 10:00:00' }, /^the target "2026-02-30 10:00:00" is not a time/],
    [{ type: 'time', target: '2026-12-01 24:00:00' }, /^the target "2026-12-01 24:00:00" is not a time/],
    [{ type: 'time', target: '2026-12-01 10:00:00+16' }, /^the target "2026-12-01 10:00:00\+16" is not a time/],
    [{ type: 'time', target: '2026-12-01 10:00:00.1234567' }, /^the target "2026-12-01 10:00:00\.1234567" is not a time/],
    [{ type: 'time', target: '2026-12-01 10:00:00 PST' }, /^the target "2026-12-01 10:00:00 PST" is not a time/],
    [{ type: 'time', target: '2026-12-01 12:00:01+00' }, /^the target 2026-12-01 12:00:01\+00 is in the future \(it is now 2026-12-01 12:00:00 UTC\): choose a time that has passed/],
    [{ type: 'time', target: '2026-12-01 09:12:02.999999' }, /^the target 2026-12-01 09:12:02\.999999\+00 is before the oldest backup in repo1/],
    // 14:40 at +05:30 is 09:10 UTC, before the oldest backup.
    [{ type: 'time', target: '2026-12-01 14:40:00+05:30' }, /^the target 2026-12-01 14:40:00\+05:30 is before the oldest backup in repo1, which finished at 2026-12-01 09:12:03 UTC/],
    [{ type: 'time', target: '2026-12-01 09:20:00+00', repo: 2 }, /^the target 2026-12-01 09:20:00\+00 is before the oldest backup in repo2, which finished at 2026-12-01 09:31:10 UTC/],
    [{ type: 'lsn', target: '0/XYZ' }, /^the target "0\/XYZ" is not an LSN: write two hexadecimal numbers/],
    [{ type: 'lsn', target: '123456789/0' }, /^the target "123456789\/0" is not an LSN/],
    [{ type: 'lsn', target: '3000060' }, /^the target "3000060" is not an LSN/],
    // 0/40000FF is before 0/4000100 as a number (as text it sorts after).
    [{ type: 'lsn', target: '0/40000FF' }, /^the target LSN 0\/40000FF is before the oldest backup in repo1, which ended at LSN 0\/4000100: choose a later target or restore with --type=immediate$/],
    [{ type: 'xid', target: '0' }, /^the target "0" is not a transaction ID: write a positive whole number/],
    [{ type: 'xid', target: '-5' }, /^the target "-5" is not a transaction ID/],
    [{ type: 'xid', target: '12a' }, /^the target "12a" is not a transaction ID/],
    [{ type: 'xid', target: '18446744073709551616' }, /^the target "18446744073709551616" is not a transaction ID/],
    [{ type: 'name', target: 'x'.repeat(64) }, /^the target "x{64}" is not a restore point name: .*at most 63 bytes/],
    [{ type: 'name', target: 'a\nb' }, /^the target "a\nb" is not a restore point name/],
    [{ type: 'name', target: "it's" }, /^the target "it's" is not a restore point name/],
    [{ set: FULL2 }, /^backup set 20261201-093000F is not in repo1: choose one of 20261201-091000F_20261201-101500I, 20261201-091000F$/],
    [{ set: '20261201-091000F_20261201-110000I' }, /^backup set 20261201-091000F_20261201-110000I in repo1 did not complete \(pgBackRest marked it in error\): choose one of 20261201-091000F_20261201-101500I, 20261201-091000F$/],
    [{ type: 'time', target: '2026-12-01 10:00:00+00', set: INCR1 }, /^backup set 20261201-091000F_20261201-101500I finished at 2026-12-01 10:15:30 UTC, after the target 2026-12-01 10:00:00\+00: choose a set that finished before it \(20261201-091000F\) or leave --set out/],
    [{ type: 'lsn', target: '0/5000000', set: INCR1 }, /^backup set 20261201-091000F_20261201-101500I ended at LSN 0\/6000100, after the target 0\/5000000: choose a set that finished before it \(20261201-091000F\)/],
  ];
  for (const [s, re, f] of rows) {
    const label = JSON.stringify(s);
    assert.throws(() => planRestore(spec(s), { ...facts, ...f }), refusal(re, label), label);
  }
});

test('only the error set in a repository is no backup at all', () => {
  const onlyError = { ...stanza!, backup: stanza!.backup.filter((b) => b.error) };
  assert.throws(() => planRestore(spec(), { ...facts, stanza: onlyError }), refusal(/^no backup in repo1 yet/, 'only error'));
});

test('restore options: the whitelist, quoted values, and the option refused named', () => {
  assert.equal(Object.keys(RESTORE_OPTIONS), ['type', 'target', 'set', 'target-exclusive', 'repo']);
  assert.equal(parseRestoreOptions('--type=time --target="2026-12-01 10:00:00+00" --set=20261201-101500F_20261201-102000I --target-exclusive --repo=2'), {
    type: 'time', target: '2026-12-01 10:00:00+00', set: '20261201-101500F_20261201-102000I', targetExclusive: true, repo: 2,
  });
  assert.equal(parseRestoreOptions("--type lsn --target '0/3000060' --no-target-exclusive"), { type: 'lsn', target: '0/3000060', targetExclusive: false });
  assert.equal(parseRestoreOptions('--target-exclusive=n --set 20261201-101500F'), { targetExclusive: false, set: '20261201-101500F' });
  assert.equal(parseRestoreOptions(''), {});
  assert.equal(parseRestoreOptions(undefined), {});
  const refused: [string, RegExp][] = [
    ['--pg1-path=/pgdata', /^option --pg1-path is not allowed in restore options .*; allowed: --type, --target, --set, --target-exclusive, --repo$/],
    ['--stanza=db', /^option --stanza is not allowed/],
    ['--delta', /^option --delta is not allowed/],
    ['--type=time --repo1-path=/tmp', /^option --repo1-path is not allowed/],
    ['--type=weekly', /^--type must be one of default, immediate, time, lsn, xid, name, got "weekly"$/],
    ['--set=latest', /^--set must be a pgBackRest backup label like 20261201-101500F or 20261201-101500F_20261201-102000I, got "latest"$/],
    ['--set=20261201-101500F_20261201-102000F', /^--set must be a pgBackRest backup label.*got "20261201-101500F_20261201-102000F"$/],
    ['--repo=3', /^--repo must be one of 1, 2, got "3"$/],
    ['--type=time --type=lsn', /^option --type is given twice$/],
    ['--target-exclusive --no-target-exclusive', /^option --target-exclusive is given twice$/],
    ['--target', /^--target needs a value, e.g. --target="2026-12-01 10:00:00\+00"$/],
    ['--target= --type=time', /^--target needs a value/],
    ['--target-exclusive=maybe', /^--target-exclusive takes no value \(or y\/n\), got "maybe"$/],
    ['--no-type', /^--no-type: only flags can be negated$/],
    ['type=time', /^"type=time" is not an option: write options as --name or --name=value/],
    ['--target=2026-12-01 10:00:00', /^"10:00:00" is not an option: .*quote a value with spaces/],
    ['--target="2026-12-01 10:00:00', /^a " quote is not closed in/],
    ['--target="a\tb"', /^--target must not contain control characters/],
    [`--target=${'x'.repeat(101)}`, /^--target is longer than 100 characters/],
  ];
  for (const [text, re] of refused) assert.throws(() => parseRestoreOptions(text), (e: Error) => e instanceof OptionError && re.test(e.message), text);
});

test("pgo's flags: --pitr-target alone is a time, goes with lsn/xid/name, and never with a second target", () => {
  assert.equal(restoreRequest({ pitrTarget: '2026-12-01 10:00:00+00' }), { type: 'time', target: '2026-12-01 10:00:00+00' });
  assert.equal(restoreRequest({ pitrTarget: ' 0/3000060 ', options: '--type=lsn --target-exclusive' }), { type: 'lsn', target: '0/3000060', targetExclusive: true });
  assert.equal(restoreRequest({ pitrTarget: 'before-migration', options: '--type=name --repo=2' }), { type: 'name', target: 'before-migration', repo: 2 });
  assert.equal(restoreRequest({ options: '--type=immediate --set=20261201-101500F' }), { type: 'immediate', set: '20261201-101500F' });
  assert.equal(restoreRequest({ pitrTarget: '', options: '' }), { type: 'default' });
  assert.equal(restoreRequest({ options: '--type=time --target="2026-12-01 10:00:00"' }), { type: 'time', target: '2026-12-01 10:00:00' });
  assert.equal(restoreRequest({ nodeAffinity: { nodeName: 'node-2', type: 'required' } }), { type: 'default', nodeAffinity: { nodeName: 'node-2', type: 'required' } });
  const refused: [Parameters<typeof restoreRequest>[0], RegExp][] = [
    [{ pitrTarget: '2026-12-01 10:00:00+00', options: '--target=0/3000060 --type=lsn' }, /^--pitr-target "2026-12-01 10:00:00\+00" and --target "0\/3000060" in the options both give a target: give only one of them$/],
    [{ pitrTarget: '2026-12-01 10:00:00+00', options: '--type=immediate' }, /^--pitr-target goes with --type=time, lsn, xid or name, not --type=immediate/],
    [{ pitrTarget: '2026-12-01 10:00:00+00', options: '--type=default' }, /not --type=default/],
    [{ pitrTarget: 'a\nb' }, /^--pitr-target must not contain control characters/],
    [{ pitrTarget: '2026-12-01 10:00:00', options: '--pg1-path=/x' }, /^option --pg1-path is not allowed/],
  ];
  for (const [input, re] of refused) assert.throws(() => restoreRequest(input), (e: Error) => e instanceof OptionError && re.test(e.message), JSON.stringify(input));
});

test('a request from the flags plans end to end', () => {
  const plan = planRestore(restoreRequest({ pitrTarget: '2026-12-01 10:00:00', options: '--repo=2' }), facts);
  assert.equal(plan.args, ['--repo=2', `--set=${FULL2}`, '--type=time', '--target=2026-12-01 10:00:00+00', '--target-action=promote']);
});

test.run();
