import { randomUUID } from 'node:crypto'
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * One process per embedded database: two PGlite instances on one directory each keep their own
 * copy of the pages in memory and overwrite each other's writes (rows seen by one were gone after
 * a restart). The lock is a file beside the PGlite directory naming its holder, as PostgreSQL's
 * own postmaster.pid does, rather than proper-lockfile's mtime heartbeat: a heartbeat goes stale
 * when PGlite's synchronous WebAssembly blocks the event loop (a long migration), which would let
 * a second process in, and after a `kill -9` it refuses every start until it ages out. A pid
 * answers at once whether the holder still runs.
 */
export const LOCK_FILE_NAME = 'coffer.lock'

/** What the lock file records about the process holding it. */
export interface LockHolder {
  pid: number
  hostname: string
  /** Linux: the kernel's boot id, so a lock from before a reboot is known to be stale. */
  bootId: string | null
  /** Linux: the holder's start time in clock ticks since boot, so a reused pid is not taken for it. */
  processStart: string | null
  startedAt: string
  /** Tells this process's lock from a later one by the same pid. */
  token: string
}

export interface DataDirLock {
  /** Absolute path of the lock file. */
  readonly path: string
  /** Removes the lock file if it is still this process's; safe to call twice. */
  release(): void
}

/** Another process holds the embedded database; nothing in the directory was opened. */
export class DataDirInUse extends Error {
  constructor(
    readonly dataDir: string,
    readonly lockPath: string,
    /** Null when the lock file could not be read (a process is writing it right now). */
    readonly holder: LockHolder | null,
    readonly holderIsElsewhere: boolean,
  ) {
    super(`the embedded database in ${dataDir} is in use by ${describeHolder(holder, holderIsElsewhere)}`)
    this.name = 'DataDirInUse'
  }

  /** The one line a refused command prints: who holds it and what to do instead. */
  advice(instead = 'stop it first, or use DATABASE_URL'): string {
    const clear = this.holderIsElsewhere
      ? ` (if no Coffer process uses it any more, delete ${this.lockPath})`
      : ''
    return `${this.message}; ${instead}${clear}`
  }
}

function describeHolder(holder: LockHolder | null, elsewhere: boolean): string {
  if (!holder) return 'another Coffer process that is starting now'
  if (holder.pid === process.pid && !elsewhere) return `this process (pid ${holder.pid})`
  return `another Coffer process (pid ${holder.pid}${elsewhere ? ` on host ${holder.hostname}` : ''})`
}

/** A lock file that cannot be parsed this long after it was written belongs to a process that died writing it. */
const UNREADABLE_LOCK_STALE_MS = 10_000
/** Taking over a stale lock takes microseconds; a guard file older than this was left by a killed process. */
const TAKEOVER_GUARD_STALE_MS = 10_000
const ATTEMPTS = 50
const RETRY_DELAY_MS = 20

/** Locks this process holds, by lock path, so a second open in the same process is refused too. */
const held = new Map<string, LockHolder>()

function releaseAllOnExit(): void {
  for (const [lockPath, holder] of held) removeIfHeldBy(lockPath, holder)
  held.clear()
}
let exitHookInstalled = false

/**
 * Takes the exclusive lock on `dataDir` (created if missing), or throws DataDirInUse. A lock whose
 * holder is gone (killed, or from before a reboot) is taken over. The lock is released by
 * release() and, failing that, when the process exits; after a `kill -9` the next start finds the
 * holder dead.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const dir = path.resolve(dataDir)
  mkdirSync(dir, { recursive: true })
  const lockPath = path.join(dir, LOCK_FILE_NAME)
  const me = describeThisProcess()
  let lastSeen: { holder: LockHolder | null; elsewhere: boolean } = { holder: null, elsewhere: false }

  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0) await sleep(RETRY_DELAY_MS)
    const ownHolder = held.get(lockPath)
    if (ownHolder) throw new DataDirInUse(dir, lockPath, ownHolder, false)
    if (tryCreate(lockPath, me)) {
      held.set(lockPath, me)
      if (!exitHookInstalled) {
        process.on('exit', releaseAllOnExit)
        exitHookInstalled = true
      }
      return {
        path: lockPath,
        release: () => {
          if (held.get(lockPath) !== me) return
          held.delete(lockPath)
          removeIfHeldBy(lockPath, me)
        },
      }
    }
    const found = readLockFile(lockPath)
    if (found.kind === 'missing') continue
    if (found.kind === 'unreadable') {
      lastSeen = { holder: null, elsewhere: false }
      if (found.ageMs > UNREADABLE_LOCK_STALE_MS) removeStaleLock(lockPath, found.raw)
      continue
    }
    const verdict = judgeHolder(found.holder, me)
    if (verdict !== 'stale') {
      throw new DataDirInUse(dir, lockPath, found.holder, verdict === 'elsewhere')
    }
    lastSeen = { holder: found.holder, elsewhere: false }
    removeStaleLock(lockPath, found.raw)
  }
  // Still contended after a second: another process is starting on the same directory right now.
  throw new DataDirInUse(dir, lockPath, lastSeen.holder, lastSeen.elsewhere)
}

function describeThisProcess(): LockHolder {
  return {
    pid: process.pid,
    hostname: hostname(),
    bootId: readBootId(),
    processStart: readProcessStart(process.pid),
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    token: randomUUID(),
  }
}

/** 'wx' fails if the file exists, so of two processes creating it at once exactly one succeeds. */
function tryCreate(lockPath: string, holder: LockHolder): boolean {
  let fd: number
  try {
    fd = openSync(lockPath, 'wx', 0o644)
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false
    throw error
  }
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return true
}

type LockFileContent =
  | { kind: 'missing' }
  | { kind: 'unreadable'; raw: string; ageMs: number }
  | { kind: 'held'; raw: string; holder: LockHolder }

function readLockFile(lockPath: string): LockFileContent {
  let raw: string
  let ageMs: number
  try {
    raw = readFileSync(lockPath, 'utf8')
    ageMs = Date.now() - statSync(lockPath).mtimeMs
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { kind: 'missing' }
    throw error
  }
  const holder = parseHolder(raw)
  return holder ? { kind: 'held', raw, holder } : { kind: 'unreadable', raw, ageMs }
}

function parseHolder(raw: string): LockHolder | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    // Empty or cut short: its writer is still writing it, or died doing so (judged by its age).
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const value = parsed as Record<string, unknown>
  const nullableString = (v: unknown) => v === null || typeof v === 'string'
  if (
    !Number.isSafeInteger(value.pid) ||
    typeof value.hostname !== 'string' ||
    !nullableString(value.bootId) ||
    !nullableString(value.processStart) ||
    typeof value.startedAt !== 'string' ||
    typeof value.token !== 'string'
  ) {
    return null
  }
  return value as unknown as LockHolder
}

/**
 * 'alive' when the holder may still run on this machine; 'stale' when it certainly does not;
 * 'elsewhere' when it ran on another machine (a shared volume) whose processes cannot be seen.
 */
export function judgeHolder(holder: LockHolder, me: LockHolder): 'alive' | 'stale' | 'elsewhere' {
  const sameBoot = holder.bootId !== null && me.bootId !== null ? holder.bootId === me.bootId : null
  if (sameBoot === false) return holder.hostname === me.hostname ? 'stale' : 'elsewhere'
  if (sameBoot === null && holder.hostname !== me.hostname) return 'elsewhere'
  // Our own pid in a lock we do not hold: written by an earlier process that had this pid (a
  // container restarts with the same pid 1).
  if (holder.pid === me.pid) return 'stale'
  if (!isRunning(holder.pid)) return 'stale'
  const stat = readProcessStat(holder.pid)
  if (stat) {
    // A killed process stays a zombie until its parent reaps it, and signal 0 still reaches it.
    if (stat.state === 'Z' || stat.state === 'X') return 'stale'
    if (holder.processStart !== null && stat.start !== holder.processStart) return 'stale'
  }
  return 'alive'
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return errorCode(error) !== 'ESRCH'
  }
}

/**
 * Removes a stale lock only if it still holds what was judged stale. Two processes that judged
 * the same lock stale must not both delete: the second would delete the lock the first has just
 * taken. The guard file makes check-and-delete one step.
 */
function removeStaleLock(lockPath: string, staleContent: string): void {
  const guardPath = `${lockPath}.takeover`
  let guard: number
  try {
    guard = openSync(guardPath, 'wx')
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error
    if (ageOf(guardPath) > TAKEOVER_GUARD_STALE_MS) unlinkIfPresent(guardPath)
    return
  }
  try {
    const current = readLockFile(lockPath)
    if (current.kind !== 'missing' && current.raw === staleContent) unlinkIfPresent(lockPath)
  } finally {
    closeSync(guard)
    unlinkIfPresent(guardPath)
  }
}

function removeIfHeldBy(lockPath: string, holder: LockHolder): void {
  const current = readLockFile(lockPath)
  if (current.kind === 'held' && current.holder.token === holder.token) unlinkIfPresent(lockPath)
}

function ageOf(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 0
    throw error
  }
}

function unlinkIfPresent(file: string): void {
  try {
    unlinkSync(file)
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error
  }
}

function readBootId(): string | null {
  return readProcFile('/proc/sys/kernel/random/boot_id')?.trim() || null
}

function readProcessStart(pid: number): string | null {
  return readProcessStat(pid)?.start ?? null
}

/**
 * Fields 3 (state) and 22 (start time) of /proc/<pid>/stat, counted after the command name,
 * which may hold spaces and parentheses.
 */
function readProcessStat(pid: number): { state: string; start: string } | null {
  const stat = readProcFile(`/proc/${pid}/stat`)
  if (!stat) return null
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const [state, start] = [fields[0], fields[19]]
  return state && start ? { state, start } : null
}

/** Null where /proc does not exist (macOS) or the process has gone. */
function readProcFile(file: string): string | null {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    const code = errorCode(error)
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES') return null
    throw error
  }
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined
}
