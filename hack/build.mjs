// `npm run build`: the operator and the pgo CLI as two self-contained ES modules (esbuild bundles every
// dependency in, so the image and an installed pgo need neither node_modules nor TypeScript at run time).
//   dist/operator.mjs  node dist/operator.mjs          (the image's entrypoint)
//   dist/pgo.mjs       the `pgo` of the npm pack tarball (package.json bin)
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

// Some bundled dependencies are CommonJS and call require() for Node's own modules.
const requireShim = "import { createRequire as __pgoCreateRequire } from 'node:module'; const require = __pgoCreateRequire(import.meta.url);";

const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: 'linked', legalComments: 'none', logLevel: 'warning' };
await Promise.all([
  build({ ...common, entryPoints: ['src/main.ts'], outfile: 'dist/operator.mjs', banner: { js: requireShim } }),
  build({ ...common, entryPoints: ['cli/main.ts'], outfile: 'dist/pgo.mjs', minify: true, banner: { js: `#!/usr/bin/env node\n${requireShim}` } }),
]);
chmodSync('dist/pgo.mjs', 0o755);
