import { randomUUID } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUserFromCommandLine, readPassword, UsageError } from '../../src/cli/users.js'
import { createTestApp, type TestApp } from '../app.js'
import { randomClientIp } from '../auth-fixtures.js'

let t: TestApp

beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const PASSWORD = 'a long admin password'

async function signIn(testApp: TestApp, email: string, password: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/api/v1/auth/sign-in',
    remoteAddress: randomClientIp(),
    payload: { email, password },
  })
}

async function canListApiKeys(testApp: TestApp, accessToken: string): Promise<number> {
  const response = await testApp.app.inject({
    method: 'GET',
    url: '/api/v1/api-keys',
    headers: { authorization: `Bearer ${accessToken}` },
  })
  return response.statusCode
}

describe('coffer users create', () => {
  it('creates an admin who can sign in and call admin routes', async () => {
    const email = `admin-${randomUUID()}@example.test`
    const user = await createUserFromCommandLine(t.container.auth, {
      email,
      password: PASSWORD,
      role: ['admin'],
    })
    expect(user).toMatchObject({ email, roles: ['admin'] })
    const signedIn = await signIn(t, email, PASSWORD)
    expect(signedIn.statusCode).toBe(200)
    expect(await canListApiKeys(t, signedIn.json().accessToken)).toBe(200)
  })

  it('refuses an unknown role, a short password, a bad email and a taken email, saying which', async () => {
    const email = `taken-${randomUUID()}@example.test`
    await createUserFromCommandLine(t.container.auth, { email, password: PASSWORD, role: ['user'] })
    const attempts = [
      [{ email: `x-${randomUUID()}@example.test`, password: PASSWORD, role: ['root'] }, /unknown role root/],
      [
        { email: `x-${randomUUID()}@example.test`, password: 'short', role: ['admin'] },
        /10 to 256 characters/,
      ],
      [{ email: 'not-an-email', password: PASSWORD, role: ['admin'] }, /not an email address/],
      [{ email: email.toUpperCase(), password: PASSWORD, role: ['admin'] }, /already exists/],
    ] as const
    for (const [options, message] of attempts) {
      const attempt = createUserFromCommandLine(t.container.auth, { ...options, role: [...options.role] })
      await expect(attempt).rejects.toThrow(UsageError)
      await expect(attempt).rejects.toThrow(message)
    }
  })
})

describe('COFFER_ADMIN_EMAIL and COFFER_ADMIN_PASSWORD', () => {
  it('create the admin at start-up when absent, and leave it alone afterwards', async () => {
    const email = `boot-${randomUUID()}@example.test`
    const booted = await createTestApp({
      env: { COFFER_ADMIN_EMAIL: email, COFFER_ADMIN_PASSWORD: PASSWORD },
    })
    try {
      expect((await signIn(booted, email, PASSWORD)).statusCode).toBe(401)
      await booted.container.auth.prepare()
      const signedIn = await signIn(booted, email, PASSWORD)
      expect(signedIn.statusCode).toBe(200)
      expect(await canListApiKeys(booted, signedIn.json().accessToken)).toBe(200)

      // A second start (a restart, another process) neither fails nor creates a second user.
      await booted.container.auth.prepare()
      const admins = await booted.database.db
        .selectFrom('users')
        .select('id')
        .where('email', '=', email)
        .execute()
      expect(admins).toHaveLength(1)
    } finally {
      await booted.close()
    }
  })

  it('must be set together', async () => {
    await expect(createTestApp({ env: { COFFER_ADMIN_EMAIL: 'a@example.test' } })).rejects.toThrow(
      /COFFER_ADMIN_PASSWORD: must be set together/,
    )
  })
})

/**
 * A terminal as readline sees one: a TTY in raw mode, where echo is the program's job. What the
 * program writes back is captured, so the test can see what a person at the terminal would see.
 */
function fakeTerminal() {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input })
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: 80 })
  let shown = ''
  output.setEncoding('utf8').on('data', (chunk: string) => {
    shown += chunk
  })
  /** Types `line` and Enter once the screen shows the `prompt`-th prompt. */
  const typeAfterPrompt = async (prompt: number, line: string) => {
    while ((shown.match(/Password/g) ?? []).length < prompt) await new Promise((r) => setImmediate(r))
    input.write(`${line}\r`)
  }
  return { input, output, shown: () => shown, typeAfterPrompt }
}

describe('the password of coffer users create', () => {
  it('is the first line of standard input when it is not a terminal', async () => {
    const input = new PassThrough()
    input.end('  a long passphrase \r\nthe next line\n')
    expect(await readPassword(input, new PassThrough())).toBe('  a long passphrase ')
  })

  it('is asked for twice at a terminal, and never shown', async () => {
    const terminal = fakeTerminal()
    const password = readPassword(terminal.input, terminal.output)
    await terminal.typeAfterPrompt(1, 'a secret passphrase')
    await terminal.typeAfterPrompt(2, 'a secret passphrase')
    expect(await password).toBe('a secret passphrase')
    expect(terminal.shown()).toMatch(/Password:.*Password again:/s)
    expect(terminal.shown()).not.toContain('secret')
  })

  it('is refused at a terminal when the two differ', async () => {
    const terminal = fakeTerminal()
    const password = readPassword(terminal.input, terminal.output)
    await terminal.typeAfterPrompt(1, 'a secret passphrase')
    await terminal.typeAfterPrompt(2, 'a secret passfrase')
    await expect(password).rejects.toThrow(new UsageError('the two passwords differ'))
  })
})
