/**
 * Test runner: runs the uvu suites of the given directories (or files) in one process and prints
 * each suite's duration and `N passed, N failed`. Unlike uvu's own summary, a suite whose `before` hook throws counts its
 * tests as failed. With PGO_TEST_RESULTS set, the counts are appended to that file as `passed failed`.
 */
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type RunResult = [errors: string | true, passed: number, skipped: number, total: number];
type Queue = [string | null, ...(() => Promise<RunResult>)[]][];
const g = globalThis as unknown as { UVU_DEFER: number; UVU_INDEX: number; UVU_QUEUE: Queue };

function testFiles(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(join(path, e.name)) : e.name.endsWith('.test.ts') ? [join(path, e.name)] : []))
    .sort();
}

const files = process.argv.slice(2).flatMap((p) => testFiles(resolve(p)));
g.UVU_DEFER = 1;
const uvu = await import('uvu');
let passed = 0;
let failed = 0;
/** Each suite's wall time, printed before the counts (where a tier's time goes). */
const durations: string[] = [];
for (const [index, file] of files.entries()) {
  g.UVU_INDEX = index;
  g.UVU_QUEUE.push([file.slice(process.cwd().length + 1)]);
  await import(pathToFileURL(file).href);
  const group = g.UVU_QUEUE[index]!;
  const name = group[0] as string;
  for (let i = 1; i < group.length; i++) {
    const run = group[i] as () => Promise<RunResult>;
    group[i] = async () => {
      const started = Date.now();
      const result = await run();
      passed += result[1];
      failed += result[3] - result[1];
      durations.push(`${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s  ${name}`);
      return result;
    };
  }
}
await uvu.exec(false);
if (durations.length > 1) console.log(`\nsuite durations:\n${durations.join('\n')}`);
console.log(`${passed} passed, ${failed} failed`);
if (process.env.PGO_TEST_RESULTS) appendFileSync(process.env.PGO_TEST_RESULTS, `${passed} ${failed}\n`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
