import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_COUNTED_RUNS, nextStatus, planSchedule, scheduledBackupName, type ScheduleStatus } from '../../src/backrest/schedule-plan.ts';
import { MAX_CLUSTER_NAME } from '../../src/crd/limits.ts';
import { backupSchedule, type BackupSchedule } from '../../src/crd/schedule.ts';

const sched = (over: Partial<BackupSchedule> = {}): BackupSchedule => backupSchedule.parse({ name: 'nightly', schedule: '0 1 * * *', backupType: 'full', ...over });
const at = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();

/** Looks at a schedule at each time in turn, as the actor does, with every due run made. */
function walk(s: BackupSchedule, times: string[], status?: ScheduleStatus) {
  return times.map((t) => {
    const plan = planSchedule(s, status, at(t));
    status = nextStatus(s.name, status, plan, plan.due ? { made: scheduledBackupName('hippo', s.name, plan.due) } : undefined);
    return { due: iso(plan.due), missed: plan.missed, next: iso(plan.nextRun), status };
  });
}

test('first sight starts counting at now: no backfill, only the next due time', () => {
  const plan = planSchedule(sched(), undefined, at('2026-01-10T12:00:00Z'));
  assert.equal({ due: iso(plan.due), missed: plan.missed, next: iso(plan.nextRun) }, { due: undefined, missed: 0, next: '2026-01-11T01:00:00.000Z' });
  // A status with a lastRun but no nextRun (after a suspension) is a first sight too.
  const resumed = planSchedule(sched(), { name: 'nightly', lastRun: '2026-01-01T01:00:00.000Z' }, at('2026-01-10T12:00:00Z'));
  assert.is(resumed.due, undefined);
  assert.is(resumed.missed, 0);
});

test('a due time runs once, at or after it; the next is the following one', () => {
  const [first, early, exact, again] = walk(sched(), ['2026-01-10T12:00:00Z', '2026-01-11T00:59:59.999Z', '2026-01-11T01:00:00Z', '2026-01-11T01:00:09Z']);
  assert.equal([first!.due, early!.due], [undefined, undefined]);
  assert.equal({ due: exact!.due, missed: exact!.missed, next: exact!.next }, { due: '2026-01-11T01:00:00.000Z', missed: 0, next: '2026-01-12T01:00:00.000Z' });
  assert.equal(exact!.status, { name: 'nightly', lastRun: '2026-01-11T01:00:00.000Z', lastBackup: 'hippo-nightly-202601110100', nextRun: '2026-01-12T01:00:00.000Z', missedRuns: 0 });
  assert.is(again!.due, undefined, 'the same due time is not run twice');
  assert.equal(again!.status, exact!.status);
});

test('an operator down over several due times makes one run, for the latest, and counts the others as missed', () => {
  const status: ScheduleStatus = { name: 'nightly', lastRun: '2026-01-11T01:00:00.000Z', nextRun: '2026-01-12T01:00:00.000Z', missedRuns: 2 };
  const plan = planSchedule(sched(), status, at('2026-01-15T09:30:00Z'));
  assert.is(iso(plan.due), '2026-01-15T01:00:00.000Z');
  assert.is(plan.missed, 3);
  assert.is(iso(plan.nextRun), '2026-01-16T01:00:00.000Z');
  const after = nextStatus('nightly', status, plan, { made: 'x' });
  assert.is(after.missedRuns, 5);
  // A skipped run is a missed one as well, and says why; lastRun stays the last run made.
  const skipped = nextStatus('nightly', status, plan, { skipped: 'a backup was still running: hippo-b1' }, '2026-01-11T01:20:00.000Z');
  assert.equal(skipped, { name: 'nightly', lastRun: '2026-01-11T01:00:00.000Z', lastSuccess: '2026-01-11T01:20:00.000Z', nextRun: '2026-01-16T01:00:00.000Z', missedRuns: 6, lastSkipped: 'a backup was still running: hippo-b1' });
});

test('the time zone decides the instants: Europe/Berlin at 01:00 is 00:00Z in winter, 23:00Z the day before in summer', () => {
  const s = sched({ timeZone: 'Europe/Berlin' });
  const steps = walk(s, ['2026-03-28T12:00:00Z', '2026-03-29T00:00:00Z', '2026-03-29T23:00:00Z']);
  assert.equal(steps.map((x) => [x.due, x.next]), [
    [undefined, '2026-03-29T00:00:00.000Z'],
    ['2026-03-29T00:00:00.000Z', '2026-03-29T23:00:00.000Z'],
    ['2026-03-29T23:00:00.000Z', '2026-03-30T23:00:00.000Z'],
  ]);
  assert.is(steps[2]!.status.lastBackup, 'hippo-nightly-202603292300', 'the name is in UTC');
  // In UTC the same expression is an hour later in winter.
  assert.is(iso(planSchedule(sched(), undefined, at('2026-03-28T12:00:00Z')).nextRun), '2026-03-29T01:00:00.000Z');
});

test('DST: 02:30 Berlin on the spring change (no such time) runs at 03:00 CEST; the repeated autumn hour gives two distinct names', () => {
  const spring = sched({ schedule: '30 2 * * *', timeZone: 'Europe/Berlin' });
  assert.is(iso(planSchedule(spring, undefined, at('2026-03-28T12:00:00Z')).nextRun), '2026-03-29T01:00:00.000Z');
  const every30 = sched({ schedule: '*/30 * * * *', timeZone: 'Europe/Berlin' });
  const steps = walk(every30, ['2026-10-25T00:10:00Z', '2026-10-25T00:30:00Z', '2026-10-25T01:00:00Z', '2026-10-25T01:30:00Z']);
  const names = steps.map((x) => x.status.lastBackup);
  assert.equal(names.slice(1), ['hippo-nightly-202610250030', 'hippo-nightly-202610250100', 'hippo-nightly-202610250130']);
  assert.is(new Set(names).size, names.length);
});

test('a changed expression or time zone restarts counting at now: no run for a time the new schedule was not in force', () => {
  const status: ScheduleStatus = { name: 'nightly', lastRun: '2026-01-11T01:00:00.000Z', nextRun: '2026-01-12T01:00:00.000Z' };
  const changed = planSchedule(sched({ schedule: '0 6 * * *' }), status, at('2026-01-12T12:00:00Z'));
  assert.is(changed.due, undefined);
  assert.is(iso(changed.nextRun), '2026-01-13T06:00:00.000Z');
  const tz = planSchedule(sched({ timeZone: 'America/New_York' }), status, at('2026-01-12T03:00:00Z'));
  assert.is(tz.due, undefined);
  assert.is(iso(tz.nextRun), '2026-01-12T06:00:00.000Z');
  // A future nextRun that is not the first due time after now is not trusted either.
  const odd = planSchedule(sched(), { name: 'nightly', nextRun: '2026-02-01T01:00:00.000Z' }, at('2026-01-12T12:00:00Z'));
  assert.equal([odd.due, iso(odd.nextRun)], [undefined, '2026-01-13T01:00:00.000Z']);
});

test('a suspended schedule has no next run, and resumes without backfill', () => {
  const status: ScheduleStatus = { name: 'nightly', lastRun: '2026-01-11T01:00:00.000Z', nextRun: '2026-01-12T01:00:00.000Z' };
  const paused = planSchedule(sched({ suspended: true }), status, at('2026-01-20T12:00:00Z'));
  assert.equal(paused, { missed: 0 });
  const entry = nextStatus('nightly', status, paused);
  assert.is(entry.nextRun, undefined);
  const resumed = planSchedule(sched(), entry, at('2026-01-21T12:00:00Z'));
  assert.equal([resumed.due, resumed.missed, iso(resumed.nextRun)], [undefined, 0, '2026-01-22T01:00:00.000Z']);
});

test('counting stops at a bound, and still runs for the latest due time', () => {
  const s = sched({ schedule: '* * * * *' });
  const status: ScheduleStatus = { name: 'nightly', nextRun: '2026-01-01T00:00:00.000Z' };
  const plan = planSchedule(s, status, at('2026-01-03T00:00:30Z'));
  assert.is(iso(plan.due), '2026-01-03T00:00:00.000Z');
  assert.is(plan.missed, MAX_COUNTED_RUNS - 1);
});

test('pgbackup names: fixed per due time, in UTC, within an object name', () => {
  const due = at('2026-01-11T01:00:00Z');
  assert.is(scheduledBackupName('hippo', 'nightly', due), 'hippo-nightly-202601110100');
  assert.is(scheduledBackupName('hippo', 'nightly', new Date(due)), scheduledBackupName('hippo', 'nightly', due));
  assert.is.not(scheduledBackupName('hippo', 'nightly', at('2026-01-11T01:01:00Z')), scheduledBackupName('hippo', 'nightly', due));
  const longest = scheduledBackupName('h'.repeat(MAX_CLUSTER_NAME), 's'.repeat(63), due);
  assert.ok(longest.length <= 253, `${longest.length}`);
  assert.match(longest, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
});

test.run();
