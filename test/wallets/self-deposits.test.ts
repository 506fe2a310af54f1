import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { createTestApp } from '../app.js'
import {
  type AuthHeaders,
  type CreatedApiKey,
  createApiKey,
  type SignedUpUser,
  signUp,
} from '../auth-fixtures.js'
import { expectLedgerConsistent } from '../ledger.js'
import { testShape } from '../shape.js'
import { deposit, fund, openWallet, type Problem, storedBalance, transfer, withdraw } from './fixtures.js'

/**
 * Who may mint money (DESIGN §5): money enters (deposits from `world`) and leaves (withdrawals to
 * it) through admins and services; a wallet's owner may do either only when SELF_DEPOSITS is on.
 * Unset, it is on for the embedded database (the newcomer's demo) and off on PostgreSQL.
 */

interface LogLine {
  level: number
  msg: string
}

/** An app with this SELF_DEPOSITS ('' is unset), its warn lines, and one user, admin and service. */
async function appWith(selfDeposits: string) {
  const lines: LogLine[] = []
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine)
      }
      done()
    },
  })
  const t = await createTestApp({ env: { SELF_DEPOSITS: selfDeposits, LOG_LEVEL: 'warn' }, logStream })
  const [user, other, admin] = await Promise.all([signUp(t), signUp(t), signUp(t, { roles: ['admin'] })])
  const service = await createApiKey(t, ['service'])
  const wallet = await openWallet(t, user.headers, 'USD')
  await fund(t, service.headers, wallet.id, '10.00')
  return { t, lines, user, other, admin, service, walletId: wallet.id }
}

type Setup = Awaited<ReturnType<typeof appWith>>

const warnings = (setup: Setup) => setup.lines.filter((line) => line.msg.includes('SELF_DEPOSITS'))

function expectRefused(
  response: { statusCode: number; body: string; headers: Record<string, unknown> },
  code: string,
) {
  expect(response.statusCode, response.body).toBe(403)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const problem = JSON.parse(response.body) as Problem
  expect(problem.code).toBe(code)
  // The detail says who may move money and how an operator turns self-deposits on.
  expect(problem.detail).toMatch(/admin or a service API key/)
  expect(problem.detail).toContain('SELF_DEPOSITS=true')
}

describe('the SELF_DEPOSITS setting', () => {
  it('reads true and false, is unset when empty, and refuses anything else', () => {
    expect(loadConfig({ SELF_DEPOSITS: 'true' }).SELF_DEPOSITS).toBe(true)
    expect(loadConfig({ SELF_DEPOSITS: 'false' }).SELF_DEPOSITS).toBe(false)
    expect(loadConfig({}).SELF_DEPOSITS).toBeUndefined()
    expect(loadConfig({ SELF_DEPOSITS: '' }).SELF_DEPOSITS).toBeUndefined()
    for (const text of ['yes', '1', 'TRUE']) {
      expect(() => loadConfig({ SELF_DEPOSITS: text })).toThrow(ConfigError)
      expect(() => loadConfig({ SELF_DEPOSITS: text })).toThrow(
        `SELF_DEPOSITS="${text}": expected true or false`,
      )
    }
  })
})

describe('SELF_DEPOSITS=false', () => {
  let off: Setup
  beforeAll(async () => {
    off = await appWith('false')
  })
  afterAll(() => off.t.close())

  it("refuses the owner's deposit and withdrawal with 403 and a code of its own, changing nothing", async () => {
    const { t, user, walletId } = off
    const before = await storedBalance(t, walletId)
    expectRefused(await deposit(t, user.headers, walletId, '1000000.00'), 'self_deposit_disabled')
    expectRefused(await withdraw(t, user.headers, walletId, '1.00'), 'self_withdrawal_disabled')
    expect(await storedBalance(t, walletId)).toBe(before)
    await expectLedgerConsistent(t.database.db)
  })

  it("refuses a user alike on someone else's wallet or one that does not exist: nothing is revealed", async () => {
    const { t, other, walletId } = off
    expectRefused(await deposit(t, other.headers, walletId, '1.00'), 'self_deposit_disabled')
    expectRefused(
      await deposit(t, other.headers, '00000000-0000-7000-8000-000000000000', '1.00'),
      'self_deposit_disabled',
    )
  })

  it('lets admins and services deposit into and withdraw from any wallet', async () => {
    const { t, admin, service, walletId } = off
    for (const headers of [admin.headers, service.headers] as AuthHeaders[]) {
      expect((await deposit(t, headers, walletId, '2.00')).statusCode).toBe(201)
      expect((await withdraw(t, headers, walletId, '1.00')).statusCode).toBe(201)
    }
    expect(await storedBalance(t, walletId)).toBe(1200n)
  })

  it('leaves transfers between wallets to their owners', async () => {
    const { t, user, other } = off
    const [from, to] = await Promise.all([
      openWallet(t, user.headers, 'EUR'),
      openWallet(t, other.headers, 'EUR'),
    ])
    await fund(t, off.service.headers, from.id, '5.00')
    const response = await transfer(t, user.headers, {
      fromWalletId: from.id,
      toWalletId: to.id,
      amount: '1.00',
    })
    expect(response.statusCode, response.body).toBe(201)
  })

  it('says nothing at start-up', () => {
    expect(warnings(off)).toEqual([])
  })
})

describe('SELF_DEPOSITS=true', () => {
  let on: Setup
  beforeAll(async () => {
    on = await appWith('true')
  })
  afterAll(() => on.t.close())

  it('lets the owner deposit into and withdraw from their own wallet', async () => {
    const { t, user, walletId } = on
    expect((await deposit(t, user.headers, walletId, '3.00')).statusCode).toBe(201)
    expect((await withdraw(t, user.headers, walletId, '1.00')).statusCode).toBe(201)
    expect(await storedBalance(t, walletId)).toBe(1200n)
  })

  it("still keeps a user out of someone else's wallet", async () => {
    const { t, other, walletId } = on
    const response = await deposit(t, other.headers, walletId, '1.00')
    expect(response.statusCode, response.body).toBe(404)
    expect(response.json<Problem>().code).toBe('wallet_not_found')
  })

  it('warns once at start-up on PostgreSQL, where it is not the default, and not on the embedded database', () => {
    expect(warnings(on)).toHaveLength(testShape() === 'services' ? 1 : 0)
    for (const line of warnings(on)) expect(line.level).toBe(40)
  })
})

describe('SELF_DEPOSITS unset', () => {
  let unset: Setup
  let user: SignedUpUser
  let admin: SignedUpUser
  let service: CreatedApiKey
  beforeAll(async () => {
    unset = await appWith('')
    ;({ user, admin, service } = unset)
  })
  afterAll(() => unset.t.close())

  it(
    testShape() === 'embedded'
      ? 'lets the owner deposit on the embedded database, the demo of npm start'
      : 'refuses the owner a deposit on PostgreSQL',
    async () => {
      const { t, walletId } = unset
      const response = await deposit(t, user.headers, walletId, '1.00')
      if (testShape() === 'embedded') expect(response.statusCode, response.body).toBe(201)
      else expectRefused(response, 'self_deposit_disabled')
      expect((await deposit(t, admin.headers, walletId, '1.00')).statusCode).toBe(201)
      expect((await deposit(t, service.headers, walletId, '1.00')).statusCode).toBe(201)
    },
  )

  it('logs no warning', () => {
    expect(warnings(unset)).toEqual([])
  })
})
