// Lint: typescript-eslint's recommended type-aware rules, plus a few that catch operator bugs
// (unhandled promises, floating async work).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'crds/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  { files: ['eslint.config.js', 'hack/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['hack/*.mjs'], languageOptions: { globals: { console: 'readonly', process: 'readonly' } } },
);
