import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { LOCK_FILE_NAME } from '../src/db/data-dir-lock.js'
import { migrations } from '../src/db/migrations/index.js'
import { cleanUpCliRuns, ONE_RUN_TIMEOUT_MS, runCli, scratchDir, startServing } from './cli-process.js'
import { databaseUrlFor, TEST_DATABASE_URL, testShape } from './shape.js'

afterEach(cleanUpCliRuns)

// The services shape runs these on PostgreSQL as well; the embedded one has nothing to run them on.
const describeOnPostgres = testShape() === 'services' ? describe : () => undefined

/** An empty PostgreSQL database of its own for `use`, dropped afterwards. */
async function withEmptyPostgresDatabase(use: (url: string) => Promise<void>): Promise<void> {
  const name = `coffer_cli_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await admin.connect()
  try {
    await admin.query(`create database ${name}`)
    await use(databaseUrlFor(name))
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`)
    await admin.end()
  }
}

/** The settings that put the CLI on the test shape's database: the embedded one, or an empty PostgreSQL one. */
async function withShapeDatabase(use: (env: Record<string, string>) => Promise<void>): Promise<void> {
  if (testShape() === 'embedded') return use({})
  return withEmptyPostgresDatabase((url) => use({ DATABASE_URL: url }))
}

async function signIn(baseUrl: string, email: string, password: string): Promise<number> {
  const response = await fetch(`${baseUrl}/api/v1/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  return response.status
}

/** Exactly one line on stderr, so a refusal reads as a sentence and not as a stack trace. */
const ONE_LINE = /^coffer: [^\n]+\n$/

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
    await withEmptyPostgresDatabase(async (url) => {
      const run = runCli(['migrate'], { dataDir, env: { DATABASE_URL: url } })
      expect(await run.exited).toEqual({ code: 0, signal: null })
      const recorded = new pg.Client({ connectionString: url })
      await recorded.connect()
      try {
        const { rows } = await recorded.query<{ name: string }>(
          'select name from coffer_migrations order by name',
        )
        expect(rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort())
      } finally {
        await recorded.end()
      }
    })
  })

  it('prints the version of package.json for --version and -V', { timeout: ONE_RUN_TIMEOUT_MS }, async () => {
    const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
    const dataDir = await scratchDir()
    for (const flag of ['--version', '-V']) {
      const run = runCli([flag], { dataDir })
      expect(await run.exited).toEqual({ code: 0, signal: null })
      expect(run.stdout()).toBe(`${manifest.version}\n`)
    }
  })

  it('refuses to listen on a port in use in one line, without a stack trace, and closes what it opened', {
    timeout: ONE_RUN_TIMEOUT_MS,
  }, async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    try {
      const address = taken.address()
      const port = typeof address === 'object' && address ? address.port : 0
      await withShapeDatabase(async (env) => {
        const dataDir = await scratchDir()
        const run = runCli(['start'], { dataDir, env: { ...env, PORT: String(port) } })
        const exit = await run.exited
        expect(exit.code).toBe(1)
        expect(run.stderr()).toMatch(ONE_LINE)
        expect(run.stderr()).toMatch(new RegExp(`^coffer: port ${port} is already in use on 127\\.0\\.0\\.1`))
        const fatal = run.logs.filter((l) => l.level === 60)
        expect(fatal.map((l) => l.msg)).toEqual([run.stderr().slice('coffer: '.length, -1)])
        expect(run.logs.map((l) => l.msg)).not.toContain('worker started')
        expect(existsSync(path.join(dataDir, LOCK_FILE_NAME))).toBe(false)
      })
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  })
})

describe('one process per embedded database', () => {
  it('refuses a second start and a users create while a server runs, each in one line, then frees it on exit', {
    timeout: 3 * ONE_RUN_TIMEOUT_MS,
  }, async () => {
    const dataDir = await scratchDir()
    const server = await startServing(dataDir)
    const pid = server.run.child.pid
    const inUse = `coffer: the embedded database in ${dataDir} is in use by another Coffer process (pid ${pid}); `

    const secondStart = runCli(['start'], { dataDir })
    expect((await secondStart.exited).code).toBe(1)
    expect(secondStart.stderr()).toMatch(ONE_LINE)
    expect(secondStart.stderr()).toBe(`${inUse}stop it first, or use DATABASE_URL\n`)

    const usersCreate = runCli(['users', 'create', '--email', 'late@example.com'], {
      dataDir,
      input: 'a long passphrase\n',
    })
    expect((await usersCreate.exited).code).toBe(1)
    expect(usersCreate.stderr()).toMatch(ONE_LINE)
    expect(usersCreate.stderr().startsWith(inUse)).toBe(true)
    expect(usersCreate.stderr()).toMatch(/stop it and run this again, or restart it with COFFER_ADMIN_EMAIL/)

    // Neither got as far as opening the database.
    for (const refused of [secondStart, usersCreate]) {
      expect(refused.logs.map((l) => l.msg)).not.toContain('using the embedded database (PGlite)')
    }
    expect((await fetch(`${server.baseUrl}/health/ready`)).status).toBe(200)

    expect(existsSync(path.join(dataDir, LOCK_FILE_NAME))).toBe(true)
    server.run.child.kill('SIGTERM')
    expect(await server.run.exited).toEqual({ code: 0, signal: null })
    expect(existsSync(path.join(dataDir, LOCK_FILE_NAME))).toBe(false)
  })

  it('starts again after the server was killed with SIGKILL, taking over its lock', {
    timeout: 2 * ONE_RUN_TIMEOUT_MS,
  }, async () => {
    const dataDir = await scratchDir()
    const killed = await startServing(dataDir)
    killed.run.child.kill('SIGKILL')
    expect((await killed.run.exited).signal).toBe('SIGKILL')
    expect(existsSync(path.join(dataDir, LOCK_FILE_NAME))).toBe(true)

    const restarted = await startServing(dataDir)
    expect((await fetch(`${restarted.baseUrl}/health/ready`)).status).toBe(200)
  })
})

describe('coffer users create', () => {
  const PASSWORD = 'a long passphrase'

  it('takes the password from standard input or COFFER_USER_PASSWORD, and the server signs both in', {
    timeout: 3 * ONE_RUN_TIMEOUT_MS,
  }, async () => {
    const dataDir = await scratchDir()
    const piped = runCli(['users', 'create', '--email', 'piped@example.com', '--role', 'admin'], {
      dataDir,
      input: `${PASSWORD}\nthe second line is not read\n`,
    })
    expect(await piped.exited).toEqual({ code: 0, signal: null })
    expect(JSON.parse(piped.stdout())).toMatchObject({ email: 'piped@example.com', roles: ['admin'] })

    const fromEnv = runCli(['users', 'create', '--email', 'env@example.com'], {
      dataDir,
      env: { COFFER_USER_PASSWORD: `${PASSWORD} from env` },
    })
    expect(await fromEnv.exited).toEqual({ code: 0, signal: null })

    const server = await startServing(dataDir)
    expect(await signIn(server.baseUrl, 'piped@example.com', PASSWORD)).toBe(200)
    expect(await signIn(server.baseUrl, 'env@example.com', `${PASSWORD} from env`)).toBe(200)
  })

  it('refuses --password, and an empty standard input, saying how to pass it, before opening anything', {
    timeout: 2 * ONE_RUN_TIMEOUT_MS,
  }, async () => {
    const dataDir = await scratchDir()
    const withFlag = runCli(['users', 'create', '--email', 'a@example.com', '--password', PASSWORD], {
      dataDir,
    })
    const withNothing = runCli(['users', 'create', '--email', 'a@example.com'], { dataDir })
    for (const run of [withFlag, withNothing]) {
      expect((await run.exited).code).toBe(2)
      expect(run.stderr()).toMatch(ONE_LINE)
      expect(run.stderr()).toMatch(/standard input .* or set COFFER_USER_PASSWORD/)
      expect(run.stdout()).toBe('')
    }
    expect(withFlag.stderr()).toMatch(/--password is not accepted/)
    expect(existsSync(path.join(dataDir, LOCK_FILE_NAME))).toBe(false)
    expect(existsSync(path.join(dataDir, 'data'))).toBe(false)
  })

  describeOnPostgres('on PostgreSQL', () => {
    it('creates a user while a server runs on the same database, and that server signs it in at once', {
      timeout: 3 * ONE_RUN_TIMEOUT_MS,
    }, async () => {
      await withEmptyPostgresDatabase(async (url) => {
        const dataDir = await scratchDir()
        const server = await startServing(dataDir, { env: { DATABASE_URL: url } })
        const created = runCli(['users', 'create', '--email', 'beside@example.com'], {
          dataDir,
          env: { DATABASE_URL: url },
          input: `${PASSWORD}\n`,
        })
        expect(await created.exited).toEqual({ code: 0, signal: null })
        expect(await signIn(server.baseUrl, 'beside@example.com', PASSWORD)).toBe(200)
        server.run.child.kill('SIGTERM')
        expect(await server.run.exited).toEqual({ code: 0, signal: null })
      })
    })
  })
})
