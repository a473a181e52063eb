import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SILENT_MS, stillFeeds } from '../../src/actors/failover.ts';

/** Silences of replicas whose last message from the old primary came at `last()` (ms since the epoch). */
const silencesSince = (...last: (() => number)[]) => () => Promise.resolve(last.map((l) => Date.now() - l()));

test('a primary that went silent 2.5 s ago (frozen under load) is not taken for alive: false once SILENT_MS passed', async () => {
  const froze = Date.now() - 2500;
  const start = Date.now();
  assert.is(await stillFeeds(silencesSince(() => froze, () => froze - 40)), false);
  const took = Date.now() - start;
  assert.ok(took >= SILENT_MS - 2500 - 20 && took < SILENT_MS - 2500 + 400, `decided after ${took} ms`);
});

test('a primary under load (heard every few ms) is alive at the second sample', async () => {
  const start = Date.now();
  assert.is(await stillFeeds(silencesSince(() => Date.now() - 5)), true);
  assert.ok(Date.now() - start < 500);
});

test('an idle live primary, heard 2 s ago and again by its next keepalive, is alive', async () => {
  const first = Date.now() - 2000;
  const keepalive = first + 2500;
  assert.is(await stillFeeds(silencesSince(() => (Date.now() >= keepalive ? keepalive : first))), true);
});

test('one replica still fed is enough; no replica streaming is not fed', async () => {
  const dead = Date.now() - 10_000;
  assert.is(await stillFeeds(silencesSince(() => dead, () => Date.now() - 1)), true);
  assert.is(await stillFeeds(silencesSince(() => dead)), false);
  assert.is(await stillFeeds(() => Promise.resolve([])), false);
});

test.run();
