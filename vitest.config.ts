import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The fault suite restarts servers and drives load: `npm run test:faults` runs it on its own;
    // the cluster test makes a PostgreSQL cluster of its own: `npm run test:cluster`;
    // the browser tests drive Chromium against a built server: `npm run test:browser`.
    // Files named *.services.test.ts test what exists only in the services shape (RabbitMQ, ...).
    exclude: [
      'test/faults/**',
      'test/cluster/**',
      'test/browser/**',
      '**/node_modules/**',
      ...(process.env.COFFER_TEST_SHAPE === 'services' ? [] : ['**/*.services.test.ts']),
    ],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Property and concurrency tests print their counterexamples; keep the rest quiet.
    silent: 'passed-only',
  },
})
