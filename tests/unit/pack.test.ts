import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

// pgo as a user installs it: the project's own npm pack tarball (hack/pack-cli.sh), installed globally into an
// empty prefix with npm's network off (it has no dependencies to fetch), run as plain Node with no tsx around.
const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

test('npm install -g of the pgo tarball gives a pgo that runs without the sources', async () => {
  const tarball = (await run('bash', ['hack/pack-cli.sh'], { cwd: root })).stdout.trim().split('\n').pop()!;
  const listing = (await run('tar', ['tzf', tarball])).stdout.trim().split('\n').sort();
  assert.equal(listing, ['package/package.json', 'package/pgo.mjs']);
  const prefix = mkdtempSync(join(tmpdir(), 'pgo-install-'));
  const home = mkdtempSync(join(tmpdir(), 'pgo-home-'));
  try {
    await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], { cwd: home });
    const installed = join(prefix, 'lib', 'node_modules', 'pg-operator');
    assert.equal(readdirSync(installed).sort(), ['package.json', 'pgo.mjs'], 'no node_modules: every dependency is in the bundle');
    assert.not.ok((JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { dependencies?: unknown }).dependencies);
    // A PATH with only Node's own directory and the prefix: nothing of the checkout can be reached.
    const env = { PATH: `${join(prefix, 'bin')}:${process.execPath.replace(/\/node$/, '')}:/usr/bin:/bin`, HOME: home };
    const version = await run('pgo', ['version', '--client'], { env, cwd: home });
    assert.match(version.stdout, /^pgo client version \d+\.\d+\.\d+\n$/);
    const help = await run('pgo', ['help', 'create'], { env, cwd: home });
    assert.match(help.stdout, /pgo create/);
    // A real call path: no API configured is a clear error, not a crash of the bundle.
    const noApi = await run('pgo', ['show', 'cluster', 'x'], { env, cwd: home }).then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.ok(noApi, 'fails without an API');
    assert.match(noApi.stderr, /PGO_APISERVER_URL is not set/);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
