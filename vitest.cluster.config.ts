import { defineConfig } from 'vitest/config'

/**
 * The scaled-out shape (`npm run test:cluster`): a streaming replica of the local PostgreSQL,
 * PgBouncer in front of the primary, three `coffer serve` and two `coffer worker` processes, one
 * of each killed with kill -9 under load. It makes and drops a PostgreSQL cluster of its own, so
 * it runs alone.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 180_000,
    silent: 'passed-only',
  },
})
