// Lint: typescript-eslint with type information, for the mistakes that types alone let through
// (a promise nobody awaits, an async function where a callback must return void) and a consistent import style.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'fuzz-out/**', 'src/kernels/generated/**', 'native/**/build/**', 'build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `typeof import('x')` in a type position loads nothing: lazily loaded modules are typed that way.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Control characters are what several parsers and sanitisers here look for.
      'no-control-regex': 'off',
    },
  },
  {
    // The bundles' host (src/bundle/): CommonJS, so that it can compile the bundled command with V8's code cache.
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: Object.fromEntries(['require', 'module', '__dirname', '__filename', 'process'].map((g) => [g, 'readonly'])),
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(['process', 'console', 'Buffer', 'URL', 'performance', 'setInterval', 'clearInterval',
        'setTimeout', 'clearTimeout', 'WebAssembly'].map((g) => [g, 'readonly'])),
    },
  },
);
