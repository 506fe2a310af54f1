import { createServer } from 'node:net'
import { type CliRun, cleanUpCliRuns, ONE_RUN_TIMEOUT_MS, runCli, scratchDir } from '../cli-process.js'

/**
 * A real `coffer start` (dist/cli/main.js, what `npm start` runs) on the embedded database in a
 * scratch DATA_DIR, for the browser tests: the console is only what that process serves.
 */

export const ADMIN_EMAIL = 'admin@example.com'
export const ADMIN_PASSWORD = 'browser tests admin passphrase'

export interface CofferServer {
  baseUrl: string
  /** `path` under /console/, e.g. `consoleUrl('sign-up')`. */
  consoleUrl(path?: string): string
  run: CliRun
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))))
    })
  })
}

async function waitUntilReady(run: CliRun, baseUrl: string): Promise<void> {
  const deadline = Date.now() + ONE_RUN_TIMEOUT_MS
  let exited = false
  void run.exited.then(() => {
    exited = true
  })
  let lastFailure = 'no answer yet'
  while (Date.now() < deadline) {
    if (exited) break
    try {
      const response = await fetch(`${baseUrl}/health/ready`)
      if (response.ok) return
      lastFailure = `HTTP ${response.status}: ${await response.text()}`
    } catch (error) {
      // Refused until the process listens: the expected state for the first seconds.
      lastFailure = error instanceof Error ? error.message : String(error)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(
    `coffer start was not ready at ${baseUrl}/health/ready (${exited ? 'it exited' : 'timed out'}; last: ${lastFailure})\nstdout:\n${run.stdout()}\nstderr:\n${run.stderr()}`,
  )
}

export async function startCoffer(): Promise<CofferServer> {
  const dataDir = await scratchDir('coffer-browser-')
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const run = runCli(['start'], {
    dataDir,
    built: true,
    env: {
      PORT: String(port),
      LOG_LEVEL: 'warn',
      COFFER_ADMIN_EMAIL: ADMIN_EMAIL,
      COFFER_ADMIN_PASSWORD: ADMIN_PASSWORD,
      // Every context signs in and the console refreshes tokens, all from 127.0.0.1: the default
      // 10 a minute would turn a slow run into 429s that have nothing to do with the console.
      RATE_LIMIT_AUTH_PER_MINUTE: '1000',
    },
  })
  try {
    await waitUntilReady(run, baseUrl)
  } catch (error) {
    await cleanUpCliRuns()
    throw error
  }
  return {
    baseUrl,
    consoleUrl: (path = '') => `${baseUrl}/console/${path.replace(/^\//, '')}`,
    run,
    async stop() {
      run.child.kill('SIGTERM')
      const stopped = await Promise.race([
        run.exited.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 15_000)),
      ])
      if (!stopped) process.stderr.write('coffer start did not stop on SIGTERM within 15 s: killed\n')
      // Kills whatever is left and removes the scratch DATA_DIR.
      await cleanUpCliRuns()
    },
  }
}
