import { defineConfig } from 'vitest/config'

/**
 * The fault suite (`npm run test:faults`): database restarts, kill -9 under load, Redis outages,
 * the bad-input corpus. Its files start the servers they break, on ports of their own, so they
 * run one at a time and never disturb the services other tests use.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    silent: 'passed-only',
  },
})
