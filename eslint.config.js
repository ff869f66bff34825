import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'data/',
      'dist/',
      '.ci/node24/',
      'bench/results/',
      'packages/*/dist/',
      'packages/client/src/generated/',
      'test-results/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  { files: ['scripts/**', 'bench/**', 'test/**'], rules: { 'no-console': 'off' } },
  {
    // Scripts that run in a browser page: the test card element (a classic script) and the sample storefront's page.
    files: ['src/modules/payments/test-card/element.js', 'examples/storefront/public/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'fetch', 'crypto', 'FileReader', 'HTMLElement'].map((name) => [
          name,
          'readonly',
        ]),
      ),
    },
  },
  { files: ['src/modules/payments/test-card/element.js'], languageOptions: { sourceType: 'script' } },
  { files: ['examples/storefront/public/**/*.js'], languageOptions: { sourceType: 'module' } },
);
