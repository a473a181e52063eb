/**
 * Writes crds/<plural>.yaml from the zod schemas in src/crd. `--check` compares instead of writing
 * and exits 1 when a committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { crdFiles } from '../src/crd/files.ts';

const check = process.argv.includes('--check');
let stale = 0;
for (const { path, text } of crdFiles()) {
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // a missing file is stale
  }
  if (current === text) continue;
  stale++;
  if (check) console.error(`${path} is out of date: run npm run gen:crds`);
  else writeFileSync(path, text);
}
if (check && stale) process.exit(1);
console.log(check ? 'CRDs are current' : `wrote ${stale} CRD file(s)`);
