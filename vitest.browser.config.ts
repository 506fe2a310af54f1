import { defineConfig } from 'vitest/config'

/**
 * The browser tests (`npm run test:browser`, which builds first): Debian's Chromium through
 * playwright-core against a real `coffer start` serving dist/console. Each file starts its own
 * server and browser, so they run one at a time; a page's auto-waiting is slow on a loaded
 * 2-core machine, hence the long timeouts. Not silent: axe's moderate findings are printed.
 */
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
})
