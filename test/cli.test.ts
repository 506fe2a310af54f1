import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigSchema } from '../src/config.js'
import { migrations } from '../src/db/migrations/index.js'
import { databaseUrlFor, TEST_DATABASE_URL, testShape } from './shape.js'

const CLI_ENTRY = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))
// An absolute loader, so the child can run from a scratch directory with no .env of the repo.
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

/**
 * Each run compiles the CLI with tsx and opens PGlite: seconds on an idle 2-core machine, but
 * 30 s was seen while other suites and benchmarks shared it.
 */
const ONE_RUN_TIMEOUT_MS = 90_000

interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

interface CliRun {
  child: ChildProcess
  logs: LogLine[]
  stderr(): string
  exited: Promise<Exit>
  /** Resolves with the first log line that matches; fails early if the process exits first. */
  waitForLog(matches: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
}

/** Children not yet reaped, with the promise of their exit, so afterEach can kill what a test left. */
const running = new Map<ChildProcess, Promise<Exit>>()
const scratchDirs: string[] = []

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-cli-'))
  scratchDirs.push(dir)
  return dir
}

/**
 * The environment of the test runner without any Coffer setting, so only what a test passes
 * reaches the CLI (a DATABASE_URL exported in the shell must not turn a test into another one).
 */
function cleanEnv(dataDir: string, env: Record<string, string>): NodeJS.ProcessEnv {
  const inherited: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(ConfigSchema.properties)) delete inherited[name]
  return { ...inherited, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }
}

function runCli(args: string[], options: { dataDir: string; env?: Record<string, string> }): CliRun {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CLI_ENTRY, ...args], {
    cwd: options.dataDir,
    env: cleanEnv(options.dataDir, options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: LogLine[] = []
  const waiters = new Set<() => void>()
  let stdoutRest = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (stdoutRest + chunk).split('\n')
    stdoutRest = lines.pop() ?? ''
    for (const line of lines) {
      if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine)
    }
    for (const wake of waiters) wake()
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  // 'close', not 'exit': the last log lines (such as "stopped") may still be in the pipe at exit.
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child)
      resolve({ code, signal })
      for (const wake of waiters) wake()
    })
  })
  running.set(child, exited)
  const describeOutput = () =>
    `stdout:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\n${stdoutRest}\nstderr:\n${stderr}`

  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog(matches, timeoutMs = ONE_RUN_TIMEOUT_MS - 5_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching log line within ${timeoutMs} ms\n${describeOutput()}`))
        }, timeoutMs)
        const check = () => {
          const found = logs.find(matches)
          if (found || !running.has(child)) {
            clearTimeout(timer)
            waiters.delete(check)
            if (found) resolve(found)
            else reject(new Error(`the CLI exited before the log line\n${describeOutput()}`))
          }
        }
        waiters.add(check)
        check()
      })
    },
  }
}

const LISTENING = /^Server listening at http:\/\/127\.0\.0\.1:(\d+)$/

/** Starts `coffer start`, waits until it listens, and returns its base URL. */
async function startServing(dataDir: string): Promise<{ run: CliRun; baseUrl: string }> {
  const run = runCli(['start'], { dataDir })
  const line = await run.waitForLog((l) => LISTENING.test(l.msg))
  const port = LISTENING.exec(line.msg)?.[1]
  return { run, baseUrl: `http://127.0.0.1:${port}` }
}

afterEach(async () => {
  for (const [child, exited] of running) {
    child.kill('SIGKILL')
    await exited
  }
  await Promise.all(scratchDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

describe('coffer CLI', () => {
  it('exits non-zero after logging each retry when the database is unreachable', {
    timeout: ONE_RUN_TIMEOUT_MS,
  }, async () => {
    const run = runCli(['start'], {
      dataDir: await scratchDir(),
      env: {
        DATABASE_URL: 'postgres://nobody@127.0.0.1:1/x',
        DB_CONNECT_RETRIES: '2',
        DB_CONNECT_RETRY_DELAY_MS: '200',
      },
    })
    // Timed from the first attempt, not from spawn: compiling the CLI with tsx on a loaded
    // 2-core machine can take longer than the whole retry schedule.
    await run.waitForLog((line) => /retrying/.test(line.msg))
    const firstRetryAt = performance.now()
    const exit = await run.exited
    expect(performance.now() - firstRetryAt).toBeLessThan(10_000)
    expect(exit.code).not.toBe(0)
    expect(exit.code).not.toBeNull()
    const retries = run.logs.filter((line) => /retrying/.test(line.msg))
    expect(retries).toHaveLength(2)
    expect(Number(retries[1]?.time) - Number(retries[0]?.time)).toBeGreaterThanOrEqual(200)
    expect(run.stderr()).toMatch(/database unreachable/i)
  })

  it('exits 2 naming the variable when the configuration is invalid', {
    timeout: ONE_RUN_TIMEOUT_MS,
  }, async () => {
    const run = runCli(['start'], { dataDir: await scratchDir(), env: { PORT: 'abc' } })
    const exit = await run.exited
    expect(exit.code).toBe(2)
    expect(run.stderr()).toContain('PORT="abc"')
    expect(run.stderr()).toMatch(/expected an integer/)
  })

  it('serves on the embedded database, stops on SIGTERM with exit 0, and keeps its data for the next start', {
    timeout: 2 * ONE_RUN_TIMEOUT_MS,
  }, async () => {
    const dataDir = await scratchDir()

    const first = await startServing(dataDir)
    expect((await fetch(`${first.baseUrl}/health/ready`)).status).toBe(200)
    first.run.child.kill('SIGTERM')
    expect(await first.run.exited).toEqual({ code: 0, signal: null })
    expect(first.run.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['worker stopped', 'stopped']))
    expect(first.run.logs.filter((l) => l.msg === 'migration applied')).toHaveLength(
      Object.keys(migrations).length,
    )

    const second = await startServing(dataDir)
    expect((await fetch(`${second.baseUrl}/health/ready`)).status).toBe(200)
    second.run.child.kill('SIGTERM')
    expect(await second.run.exited).toEqual({ code: 0, signal: null })
    expect(second.run.logs.filter((l) => l.msg === 'migration applied')).toEqual([])
  })

  it('migrates the database and exits 0', { timeout: ONE_RUN_TIMEOUT_MS }, async () => {
    const dataDir = await scratchDir()
    if (testShape() === 'embedded') {
      const run = runCli(['migrate'], { dataDir })
      expect(await run.exited).toEqual({ code: 0, signal: null })
      expect(run.logs.filter((l) => l.msg === 'migration applied')).toHaveLength(
        Object.keys(migrations).length,
      )
      return
    }
    // Services: an empty database of its own, so the CLI applies every migration on PostgreSQL.
    const name = `coffer_cli_${randomUUID().replaceAll('-', '').slice(0, 16)}`
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await admin.connect()
    try {
      await admin.query(`create database ${name}`)
      const run = runCli(['migrate'], { dataDir, env: { DATABASE_URL: databaseUrlFor(name) } })
      expect(await run.exited).toEqual({ code: 0, signal: null })
      const recorded = new pg.Client({ connectionString: databaseUrlFor(name) })
      await recorded.connect()
      try {
        const { rows } = await recorded.query<{ name: string }>(
          'select name from coffer_migrations order by name',
        )
        expect(rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort())
      } finally {
        await recorded.end()
      }
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`)
      await admin.end()
    }
  })
})
