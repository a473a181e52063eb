// `npm run build`: the operator and the pgo CLI as two self-contained ES modules (esbuild bundles every
// dependency in, so the image and an installed pgo need neither node_modules nor TypeScript at run time).
//   dist/operator.mjs  node dist/operator.mjs          (the image's entrypoint)
//   dist/pgo.mjs       the `pgo` of the npm pack tarball (package.json bin)
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

// Some bundled dependencies are CommonJS and call require() for Node's own modules.
const requireShim = "import { createRequire as __pgoCreateRequire } from 'node:module'; const require = __pgoCreateRequire(import.meta.url);";

// zod's error messages in 50 languages (z.locales, ~250 KiB that every start parses): only English is used,
// and zod registers it by itself (classic/schemas.js imports locales/en.js directly).
const englishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => (/[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'stub' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: 'linked', legalComments: 'none', logLevel: 'warning', plugins: [englishOnly] };
await Promise.all([
  // No comments nor indentation (the source stays in the heap as a string: 4 MiB, not 19 of UTF-16), names kept.
  build({ ...common, entryPoints: ['src/main.ts'], outfile: 'dist/operator.mjs', minifyWhitespace: true, minifySyntax: true, charset: 'ascii', banner: { js: requireShim } }),
  build({ ...common, entryPoints: ['cli/main.ts'], outfile: 'dist/pgo.mjs', minify: true, banner: { js: `#!/usr/bin/env node\n${requireShim}` } }),
]);
chmodSync('dist/pgo.mjs', 0o755);
