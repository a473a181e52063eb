/**
 * The boundary fuzzing of tests/apiserver/fuzz.test.ts, longer and with other seeds: `npx tsx bench/fuzz.ts
 * [inputs per kind] [seed]` (default 1000, a random seed). Prints the counts and every disagreement.
 */
import { installCrds } from '../src/k8s/crds.ts';
import { FUZZ_NAMESPACES, fuzzBoundaries } from '../tests/fuzz/boundaries.ts';
import { startApi } from '../tests/harness/api.ts';

const n = Number(process.argv[2] ?? 1000);
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));
const h = await startApi([...FUZZ_NAMESPACES]);
try {
  await installCrds(h.cp.kubeconfig);
  const started = Date.now();
  const c = await fuzzBoundaries(h, `admin:${h.adminPassword}`, n, seed);
  console.log(`seed ${seed}: ${c.tried} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s, ${c.rejectedAtAdmission} rejected at admission, ${c.rejectedByApi} rejected by the API, ${c.accepted} accepted, ${c.disagreements.length} disagreements`);
  for (const d of c.disagreements) console.log(`  ${d}`);
  process.exitCode = c.disagreements.length ? 1 : 0;
} finally {
  await h.stop();
}
