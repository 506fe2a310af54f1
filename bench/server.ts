import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const REPO_ROOT = path.resolve(import.meta.dirname, '..')
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'main.js')

/**
 * The environment of every coffer process the bench starts: the bench database, and nothing
 * else from the caller's environment or a .env file that would change what is measured (an empty
 * value counts as unset for Coffer, and dotenv never overrides a variable that is present).
 */
export function cofferEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl,
    DATABASE_READ_URL: '',
    REDIS_URL: '',
    AMQP_URL: '',
    COFFER_ADMIN_EMAIL: '',
    COFFER_ADMIN_PASSWORD: '',
    LOG_LEVEL: 'warn',
    // The bench stops its processes itself: no load balancer to drain for.
    SHUTDOWN_DRAIN_SECONDS: '0',
    ...extra,
  }
}

/** Runs a coffer command to completion; its output comes back, a failure throws with it. */
export async function runCoffer(
  args: string[],
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
): Promise<{ code: number; output: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(signal ? { signal } : {}),
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const code = await exitCodeOf(child)
  return { code: code ?? 1, output }
}

/** The exit code once the child has closed its output; null when a signal (or an abort) ended it. */
export function exitCodeOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.on('close', (code) => resolve(code))
    child.on('error', (error) => {
      if (error.name === 'AbortError') resolve(null)
      else reject(error)
    })
  })
}

export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('no free port')
  return address.port
}

export interface ServedCoffer {
  url: string
  pid: number
  logFile: string
  /** Stops the process (SIGTERM, then SIGKILL after the grace period); safe to call twice. */
  stop(): Promise<void>
}

const READY_TIMEOUT_MS = 30_000
const STOP_GRACE_MS = 15_000

/**
 * Starts `coffer serve` from the production build as a child process and waits until
 * /health/ready answers 200. Its output goes to logFile.
 */
export async function serveCoffer(options: {
  databaseUrl: string
  poolSize: number
  logFile: string
  nodeFlags?: string[]
  /** `serve` (the default) or `start` (API and worker in one process). */
  command?: 'serve' | 'start'
  /** More environment, e.g. AMQP_URL. */
  env?: Record<string, string>
}): Promise<ServedCoffer> {
  const command = options.command ?? 'serve'
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const log = createWriteStream(options.logFile, { flags: 'a' })
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), CLI, command], {
    cwd: REPO_ROOT,
    env: cofferEnv(options.databaseUrl, {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_POOL_SIZE: String(options.poolSize),
      ...options.env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.pipe(log)
  child.stderr.pipe(log)
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  const served: ServedCoffer = {
    url,
    pid: child.pid ?? -1,
    logFile: options.logFile,
    stop: () => stopChild(child, exited),
  }

  const deadline = Date.now() + READY_TIMEOUT_MS
  let ended: { code: unknown; signal: unknown } | null = null
  void exited.then((value) => {
    ended = value
  })
  while (Date.now() < deadline) {
    if (ended) break
    try {
      const response = await fetch(`${url}/health/ready`)
      if (response.status === 200) return served
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  await served.stop()
  const tail = (await readFile(options.logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n')
  throw new Error(
    ended
      ? `coffer ${command} exited before it was ready (${JSON.stringify(ended)}):\n${tail}`
      : `coffer ${command} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${tail}`,
  )
}

export interface RunningWorker {
  pid: number
  logFile: string
  /** Stops the process (SIGTERM, then SIGKILL after the grace period); safe to call twice. */
  stop(): Promise<void>
}

/**
 * Starts `coffer worker` from the production build as a child process, as an operator runs it
 * beside `coffer serve`, and waits for its "worker started" log line (it logs at info for that,
 * so its log also keeps each job's "statement generated"). Its output goes to logFile.
 */
export async function startWorker(options: {
  databaseUrl: string
  logFile: string
  nodeFlags?: string[]
}): Promise<RunningWorker> {
  const log = createWriteStream(options.logFile, { flags: 'a' })
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), CLI, 'worker'], {
    cwd: REPO_ROOT,
    env: cofferEnv(options.databaseUrl, { LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.pipe(log)
  child.stderr.pipe(log)
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  const worker: RunningWorker = {
    pid: child.pid ?? -1,
    logFile: options.logFile,
    stop: () => stopChild(child, exited),
  }
  let seen = ''
  const started = new Promise<boolean>((resolve) => {
    const onData = (chunk: Buffer) => {
      // Only the tail is kept: the line may arrive split over two chunks.
      seen = (seen + chunk.toString()).slice(-4096)
      if (seen.includes('"msg":"worker started')) {
        child.stdout.off('data', onData)
        resolve(true)
      }
    }
    child.stdout.on('data', onData)
    void exited.then(() => resolve(false))
  })
  const waiting = new AbortController()
  const timeout = sleep(READY_TIMEOUT_MS, false, { signal: waiting.signal }).catch(() => false)
  const ready = await Promise.race([started, timeout])
  waiting.abort()
  if (ready) return worker
  await worker.stop()
  const tail = (await readFile(options.logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n')
  throw new Error(`coffer worker did not start within ${READY_TIMEOUT_MS / 1000} s:\n${tail}`)
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
  try {
    await exited
  } finally {
    clearTimeout(timer)
  }
}
