import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { hostname, tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { DataDirInUse, LOCK_FILE_NAME, type LockHolder, lockDataDir } from '../../src/db/data-dir-lock.js'
import { connectDatabase } from '../../src/db/database.js'

const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const LOCK_MODULE = pathToFileURL(path.resolve(import.meta.dirname, '../../src/db/data-dir-lock.ts')).href

const dirs: string[] = []
const children: ChildProcess[] = []

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  }
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

const CONNECT = { poolSize: 1, retries: 0, retryDelayMs: 0, logger: pino({ level: 'silent' }) }

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-lock-'))
  dirs.push(dir)
  return dir
}

/** Another process that takes the lock with the real module: it then waits, or exits without releasing. */
async function lockInAnotherProcess(dir: string, then: 'wait' | 'exit'): Promise<ChildProcess> {
  const script = `
    const { lockDataDir } = await import(${JSON.stringify(LOCK_MODULE)})
    await lockDataDir(${JSON.stringify(dir)})
    process.stdout.write('locked\\n')
    if (${JSON.stringify(then)} === 'exit') process.exit(0)
    setInterval(() => {}, 60_000)
  `
  const child = spawn(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  await new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (chunk.includes('locked')) resolve()
    })
    child.on('exit', (code) => {
      if (then === 'exit') resolve()
      else reject(new Error(`the locking process exited with ${code}`))
    })
  })
  return child
}

/** A process that runs but has nothing to do with Coffer. */
function unrelatedProcess(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], { stdio: 'ignore' })
  children.push(child)
  return child
}

async function pidOfAnExitedProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await once(child, 'exit')
  return child.pid!
}

function writeLock(dir: string, holder: Partial<LockHolder>): void {
  const full: LockHolder = {
    pid: process.pid,
    hostname: hostname(),
    bootId: null,
    processStart: null,
    startedAt: new Date().toISOString(),
    token: randomUUID(),
    ...holder,
  }
  writeFileSync(path.join(dir, LOCK_FILE_NAME), JSON.stringify(full))
}

function lockFileOf(dir: string): LockHolder {
  return JSON.parse(readFileSync(path.join(dir, LOCK_FILE_NAME), 'utf8')) as LockHolder
}

async function refusal(dir: string): Promise<DataDirInUse> {
  const error = await lockDataDir(dir).then(
    () => null,
    (e: unknown) => e,
  )
  if (!(error instanceof DataDirInUse)) throw new Error(`expected DataDirInUse, got ${String(error)}`)
  return error
}

describe('the lock on DATA_DIR', () => {
  it('is held by one opener at a time in a process, and free again once released', async () => {
    const dir = await scratchDir()
    const lock = await lockDataDir(dir)
    expect(lockFileOf(dir).pid).toBe(process.pid)
    expect((await refusal(dir)).message).toMatch(/in use by this process/)
    lock.release()
    expect(existsSync(lock.path)).toBe(false)
    const again = await lockDataDir(dir)
    again.release()
  })

  it('is released when the embedded database is closed', async () => {
    const dir = await scratchDir()
    const database = await connectDatabase({ dataDir: dir, ...CONNECT })
    expect(lockFileOf(dir).pid).toBe(process.pid)
    await database.close()
    expect(existsSync(path.join(dir, LOCK_FILE_NAME))).toBe(false)
  })

  it('refuses while another process holds it, in one line naming its pid, and opens nothing', async () => {
    const dir = await scratchDir()
    const holder = await lockInAnotherProcess(dir, 'wait')
    const error = await refusal(dir)
    expect(error.holder?.pid).toBe(holder.pid)
    expect(error.advice()).toBe(
      `the embedded database in ${dir} is in use by another Coffer process (pid ${holder.pid}); stop it first, or use DATABASE_URL`,
    )
    const connecting = connectDatabase({ dataDir: dir, ...CONNECT })
    await expect(connecting).rejects.toThrow(DataDirInUse)
    // PGlite creates its directory when it opens it: it was never reached.
    expect(existsSync(path.join(dir, 'data'))).toBe(false)
  })

  it('takes over the lock of a process killed with SIGKILL', async () => {
    const dir = await scratchDir()
    const holder = await lockInAnotherProcess(dir, 'wait')
    holder.kill('SIGKILL')
    await once(holder, 'exit')
    expect(lockFileOf(dir).pid).toBe(holder.pid)
    const lock = await lockDataDir(dir)
    expect(lockFileOf(dir).pid).toBe(process.pid)
    lock.release()
  })

  it('is released when its process exits without closing the database', async () => {
    const dir = await scratchDir()
    const holder = await lockInAnotherProcess(dir, 'exit')
    if (holder.exitCode === null) await once(holder, 'exit')
    expect(holder.exitCode).toBe(0)
    expect(existsSync(path.join(dir, LOCK_FILE_NAME))).toBe(false)
  })

  it('takes over a lock whose pid is now this process, as after a container restart', async () => {
    const dir = await scratchDir()
    writeLock(dir, { pid: process.pid })
    const lock = await lockDataDir(dir)
    lock.release()
  })

  if (process.platform === 'linux') {
    it('takes over a lock whose pid now belongs to an unrelated process started later', async () => {
      const dir = await scratchDir()
      const unrelated = unrelatedProcess()
      const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
      writeLock(dir, { pid: unrelated.pid!, bootId, processStart: '1' })
      const lock = await lockDataDir(dir)
      lock.release()
    })

    it('takes over a lock whose process was killed but not yet reaped by its parent', async () => {
      const dir = await scratchDir()
      // The first sleep ends soon after its parent has become the second sleep, which never waits for it: a zombie.
      const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      })
      children.push(parent)
      const [pidLine] = (await once(parent.stdout!.setEncoding('utf8'), 'data')) as [string]
      const zombie = Number(pidLine.trim())
      while (!/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${zombie}/stat`, 'utf8'))) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
      writeLock(dir, { pid: zombie, bootId })
      const lock = await lockDataDir(dir)
      lock.release()
    })

    it('takes over a lock written before a reboot of this machine', async () => {
      const dir = await scratchDir()
      writeLock(dir, { pid: unrelatedProcess().pid!, bootId: randomUUID() })
      const lock = await lockDataDir(dir)
      lock.release()
    })
  }

  it('refuses a lock from another machine, saying how to clear it', async () => {
    const dir = await scratchDir()
    writeLock(dir, { pid: await pidOfAnExitedProcess(), hostname: 'elsewhere', bootId: randomUUID() })
    const error = await refusal(dir)
    expect(error.advice()).toBe(
      `the embedded database in ${dir} is in use by another Coffer process (pid ${error.holder?.pid} on host elsewhere); stop it first, or use DATABASE_URL (if no Coffer process uses it any more, delete ${path.join(dir, LOCK_FILE_NAME)})`,
    )
  })

  it('waits for a lock file being written, and takes over one left half-written long ago', async () => {
    const dir = await scratchDir()
    const lockPath = path.join(dir, LOCK_FILE_NAME)
    writeFileSync(lockPath, '{"pid":')
    expect((await refusal(dir)).message).toMatch(/another Coffer process that is starting now/)
    const longAgo = new Date(Date.now() - 60_000)
    utimesSync(lockPath, longAgo, longAgo)
    const lock = await lockDataDir(dir)
    lock.release()
  })

  it('leaves a lock file alone on release once it names another holder', async () => {
    const dir = await scratchDir()
    const lock = await lockDataDir(dir)
    const other = randomUUID()
    writeLock(dir, { token: other })
    lock.release()
    expect(lockFileOf(dir).token).toBe(other)
  })
})
