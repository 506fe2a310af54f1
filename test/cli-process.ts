import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ConfigSchema } from '../src/config.js'

/**
 * The Coffer CLI as a child process, for tests that need a real process: exit codes, signals,
 * log lines, a server other programs (curl) can reach.
 */

const SOURCES = fileURLToPath(new URL('../src/', import.meta.url))
const CLI_SOURCE = path.join(SOURCES, 'cli/main.ts')
/** What `npm start` runs; `npm run build` (or `npm install`) makes it. */
export const CLI_BUILT = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
// An absolute loader, so the child can run from a scratch directory with no .env of the repo.
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

/**
 * Each run compiles the CLI with tsx and opens PGlite: seconds on an idle 2-core machine, but
 * 30 s was seen while other suites and benchmarks shared it.
 */
export const ONE_RUN_TIMEOUT_MS = 90_000

export interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface CliRun {
  child: ChildProcess
  logs: LogLine[]
  /** Everything written to stdout, log lines included. */
  stdout(): string
  stderr(): string
  exited: Promise<Exit>
  /** Resolves with the first log line that matches; fails early if the process exits first. */
  waitForLog(matches: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
}

export interface CliOptions {
  dataDir: string
  env?: Record<string, string>
  /** Run dist/cli/main.js, as `npm start` does, instead of the sources through tsx. */
  built?: boolean
  /** Written to the child's standard input, which is then closed; without it stdin is /dev/null. */
  input?: string
}

/** Children not yet reaped, with the promise of their exit, so a test's cleanup can kill what it left. */
const running = new Map<ChildProcess, Promise<Exit>>()
const scratchDirs: string[] = []

export async function scratchDir(prefix = 'coffer-cli-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix))
  scratchDirs.push(dir)
  return dir
}

/** Kills every child still running and removes every scratch directory: for afterEach/afterAll. */
export async function cleanUpCliRuns(): Promise<void> {
  for (const [child, exited] of running) {
    child.kill('SIGKILL')
    await exited
  }
  await Promise.all(scratchDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
}

/**
 * The environment of the test runner without any Coffer setting, so only what a test passes
 * reaches the CLI (a DATABASE_URL exported in the shell must not turn a test into another one).
 */
export function cleanEnv(dataDir: string, env: Record<string, string>): NodeJS.ProcessEnv {
  const inherited: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(ConfigSchema.properties)) delete inherited[name]
  // No drain before shutting down (5 s on PostgreSQL): tests stop processes often; test/drain.test.ts sets its own.
  return {
    ...inherited,
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    SHUTDOWN_DRAIN_SECONDS: '0',
    ...env,
  }
}

/**
 * Refuses to run a build older than the sources: a test of dist/ would otherwise pass or fail on
 * code that is no longer there.
 */
function assertBuildIsCurrent(): void {
  if (!existsSync(CLI_BUILT)) throw new Error(`${CLI_BUILT} is missing: run \`npm run build\` first`)
  const builtAt = statSync(CLI_BUILT).mtimeMs
  const newer = readdirSync(SOURCES, { recursive: true, encoding: 'utf8' }).find(
    (file) =>
      file.endsWith('.ts') &&
      !file.endsWith('.test.ts') &&
      statSync(path.join(SOURCES, file)).mtimeMs > builtAt,
  )
  if (newer) throw new Error(`src/${newer} is newer than ${CLI_BUILT}: run \`npm run build\` first`)
}

export function runCli(args: string[], options: CliOptions): CliRun {
  if (options.built) assertBuildIsCurrent()
  const entry = options.built ? [CLI_BUILT] : ['--import', TSX_LOADER, CLI_SOURCE]
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: options.dataDir,
    env: cleanEnv(options.dataDir, options.env ?? {}),
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  })
  if (options.input !== undefined) child.stdin?.end(options.input)
  const logs: LogLine[] = []
  const waiters = new Set<() => void>()
  let stdoutRest = ''
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
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
    stdout: () => stdout,
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
export async function startServing(
  dataDir: string,
  options: Omit<CliOptions, 'dataDir'> = {},
): Promise<{ run: CliRun; baseUrl: string; port: number }> {
  const run = runCli(['start'], { ...options, dataDir })
  const line = await run.waitForLog((l) => LISTENING.test(l.msg))
  const port = Number(LISTENING.exec(line.msg)?.[1])
  return { run, baseUrl: `http://127.0.0.1:${port}`, port }
}
