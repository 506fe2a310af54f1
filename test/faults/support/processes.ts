import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Bounds every external command, so a stuck pg_ctl or redis-cli fails the test instead of hanging it. */
const COMMAND_TIMEOUT_MS = 60_000

/** A TCP port nothing listens on at this instant (bound by the OS, then released). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export async function command(file: string, args: string[]): Promise<string> {
  const { stdout } = await run(file, args, { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

/** Waits until `check` holds, polling; fails naming `what` after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

/**
 * A PostgreSQL server of the test's own, in a temporary directory on a free port, so a test can
 * restart it without touching the shared one. PostgreSQL refuses to run as root, so as root the
 * binaries run as the `postgres` user.
 */
export interface ThrowawayPostgres {
  port: number
  url: string
  restart(mode: 'fast' | 'immediate'): Promise<void>
  stop(): Promise<void>
}

const PG_BIN_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin']

async function pgBinary(name: string): Promise<string> {
  for (const dir of PG_BIN_DIRS) {
    const candidate = path.join(dir, name)
    try {
      await command(candidate, ['--version'])
      return candidate
    } catch {
      // not in this directory; try the next, then PATH
    }
  }
  return name
}

export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const asRoot = process.getuid?.() === 0
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-faults-pg-'))
  const dataDir = path.join(dir, 'data')
  const logFile = path.join(dir, 'server.log')
  if (asRoot) {
    const uid = Number((await command('id', ['-u', 'postgres'])).trim())
    const gid = Number((await command('id', ['-g', 'postgres'])).trim())
    await chown(dir, uid, gid)
  }
  const [initdb, pgCtl] = await Promise.all([pgBinary('initdb'), pgBinary('pg_ctl')])
  const asPostgres = (file: string, args: string[]) =>
    asRoot ? command('runuser', ['-u', 'postgres', '--', file, ...args]) : command(file, args)

  const port = await freePort()
  const serverOptions = `-p ${port} -k /tmp -c listen_addresses=127.0.0.1`
  const ctl = (args: string[]) => asPostgres(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', ...args])
  try {
    await asPostgres(initdb, ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
    await ctl(['-o', serverOptions, 'start'])
  } catch (error) {
    // Nothing of a half-started server is left behind.
    await ctl(['-m', 'immediate', 'stop']).catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  let stopped = false
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: async (mode) => {
      await ctl(['-m', mode, '-o', serverOptions, 'restart'])
    },
    stop: async () => {
      if (stopped) return
      stopped = true
      await ctl(['-m', 'immediate', 'stop']).catch(() => undefined)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A redis-server of the test's own, without persistence, that the test stops and starts. */
export interface ThrowawayRedis {
  port: number
  url: string
  start(): Promise<void>
  /** `redis-cli shutdown nosave`: the data is gone, as after a crash of a Redis without persistence. */
  shutdown(): Promise<void>
  stop(): Promise<void>
}

export async function throwawayRedis(): Promise<ThrowawayRedis> {
  const port = await freePort()
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-faults-redis-'))
  let server: ChildProcess | null = null
  const ping = async () => (await command('redis-cli', ['-p', String(port), 'ping'])).trim() === 'PONG'
  const shutdown = async () => {
    const running = server
    if (!running) return
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()))
    await command('redis-cli', ['-p', String(port), 'shutdown', 'nosave']).catch(() =>
      running.kill('SIGKILL'),
    )
    await Promise.race([exited, sleep(10_000).then(() => running.kill('SIGKILL'))])
    server = null
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start: async () => {
      server = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' },
      )
      await until(ping, `redis-server on port ${port}`, 15_000)
    },
    shutdown,
    stop: async () => {
      await shutdown()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** `node dist/cli/main.js <args>` (the built CLI, as an operator runs it), to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['dist/cli/main.js', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS)
  const code = await new Promise<number>((resolve) =>
    child.once('exit', (exitCode) => resolve(exitCode ?? 1)),
  )
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** `coffer start` as a child process, with its output kept for the failure message. */
export interface CofferProcess {
  baseUrl: string
  /** Set once the process has exited, with its code or signal. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null
  /** The last lines it printed (stdout and stderr), for a failure message. */
  output(): string
  kill9(): Promise<void>
  /** SIGTERM, then SIGKILL if it has not exited within 15 s; safe to call twice. */
  stop(): Promise<void>
}

const KEPT_OUTPUT_LINES = 200

/** `coffer start` as a child process, ready when /health/ready answers 200. */
export function startCoffer(env: Record<string, string>): Promise<CofferProcess> {
  return startCofferRole('start', env)
}

/**
 * `coffer start`, `serve` or `worker` as a child process (the last two for the scaled-out shape).
 * A process with an API is ready when /health/ready answers 200; a worker has no HTTP listener, so it is ready when it
 * logs "worker started" (it logs at info for that; the other lines are kept for a failure message).
 */
export async function startCofferRole(
  role: 'start' | 'serve' | 'worker',
  env: Record<string, string>,
): Promise<CofferProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, ['dist/cli/main.js', role], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: role === 'worker' ? 'info' : 'warn',
      // No drain before shutting down: the fault tests stop and start Coffer many times.
      SHUTDOWN_DRAIN_SECONDS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  let workerStarted = false
  const keep = (chunk: Buffer) => {
    const text = String(chunk)
    if (text.includes('"worker started"')) workerStarted = true
    lines.push(...text.split('\n').filter(Boolean))
    if (lines.length > KEPT_OUTPUT_LINES) lines.splice(0, lines.length - KEPT_OUTPUT_LINES)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const handle: CofferProcess = {
    baseUrl: `http://127.0.0.1:${port}`,
    exit: null,
    output: () => lines.join('\n'),
    kill9: async () => {
      if (handle.exit) return
      child.kill('SIGKILL')
      await exited
    },
    stop: async () => {
      if (handle.exit) return
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(killer)
    },
  }
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      handle.exit = { code, signal }
      resolve()
    })
  })
  const ready =
    role === 'worker'
      ? async () => workerStarted
      : async () => (await fetch(`${handle.baseUrl}/health/ready`, { signal: AbortSignal.timeout(2000) })).ok
  try {
    await until(async () => handle.exit !== null || (await ready()), `coffer ${role} to be ready`, 60_000)
    if (handle.exit) throw new Error(`coffer ${role} exited during start-up: ${JSON.stringify(handle.exit)}`)
  } catch (error) {
    await handle.stop()
    throw new Error(`${(error as Error).message}\n${handle.output()}`)
  }
  return handle
}
