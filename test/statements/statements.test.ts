import { createHash } from 'node:crypto'
import { parse } from 'csv-parse/sync'
import { Value } from 'typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StatementDocument } from '../../src/statements/statement-document.schemas.js'
import type { TransactionView, WalletView } from '../../src/wallets/wallets.schemas.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { fund, openWallet, type Problem, pause, postMoney, transfer, withdraw } from '../wallets/fixtures.js'
import { getStatement, minorOf, pdfText, walletStatement } from './fixtures.js'

let t: TestApp
let service: CreatedApiKey
let alice: SignedUpUser
let bob: SignedUpUser
let aliceUsd: WalletView
let bobUsd: WalletView
const posted: TransactionView[] = []
let start: string
let end: string

beforeAll(async () => {
  t = await createTestApp()
  service = await createApiKey(t, ['service'])
  alice = await signUp(t, { name: 'Алиса Петрова' })
  bob = await signUp(t)
  start = new Date(Date.now() - 1000).toISOString()
  aliceUsd = await openWallet(t, alice.headers, 'USD')
  bobUsd = await openWallet(t, bob.headers, 'USD')
  posted.push(await fund(t, service.headers, aliceUsd.id, '100.00'))
  await pause()
  const sent = await transfer(t, alice.headers, {
    fromWalletId: aliceUsd.id,
    toWalletId: bobUsd.id,
    amount: '30.25',
  })
  expect(sent.statusCode, sent.body).toBe(201)
  posted.push(sent.json())
  await pause()
  const back = await postMoney(t, bob.headers, '/api/v1/transfers', {
    fromWalletId: bobUsd.id,
    toWalletId: aliceUsd.id,
    amount: '5.00',
    description: 'Перевод другу, «спасибо»',
  })
  expect(back.statusCode, back.body).toBe(201)
  posted.push(back.json())
  await pause()
  const out = await withdraw(t, service.headers, aliceUsd.id, '10.00')
  expect(out.statusCode, out.body).toBe(201)
  posted.push(out.json())
  await pause()
  const bought = await postMoney(t, alice.headers, '/api/v1/purchases', {
    walletId: aliceUsd.id,
    merchant: 'acme',
    amount: '1.50',
    description: 'Καφές, café',
  })
  expect(bought.statusCode, bought.body).toBe(201)
  posted.push(bought.json())
  end = new Date(Date.now() + 1000).toISOString()
})
afterAll(() => t.close())

describe('GET /wallets/{id}/statement (JSON)', () => {
  it('gives the holder, the period, opening and closing balances, totals by type and the lines', async () => {
    const statement = await walletStatement(t, alice.headers, aliceUsd.id, { from: start, to: end })
    expect(Value.Check(StatementDocument, statement)).toBe(true)
    expect(statement).toMatchObject({
      kind: 'wallet',
      holder: { userId: alice.userId, email: alice.email, name: 'Алиса Петрова' },
      accountId: aliceUsd.id,
      currency: 'USD',
      period: { from: start, to: end, timeZone: 'UTC' },
      openingBalance: '0.00',
      closingBalance: '63.25',
      totals: { moneyIn: '105.00', moneyOut: '41.75', count: 5 },
    })
    expect(statement.totals.byType).toEqual([
      { type: 'deposit', moneyIn: '100.00', moneyOut: '0.00', count: 1 },
      { type: 'purchase', moneyIn: '0.00', moneyOut: '1.50', count: 1 },
      { type: 'transfer', moneyIn: '5.00', moneyOut: '30.25', count: 2 },
      { type: 'withdrawal', moneyIn: '0.00', moneyOut: '10.00', count: 1 },
    ])
    expect(statement.lines.map((l) => [l.type, l.amount, l.balanceAfter, l.counterparty])).toEqual([
      ['deposit', '100.00', '100.00', 'external'],
      ['transfer', '-30.25', '69.75', bobUsd.id],
      ['transfer', '5.00', '74.75', bobUsd.id],
      ['withdrawal', '-10.00', '64.75', 'external'],
      ['purchase', '-1.50', '63.25', 'acme'],
    ])
    expect(statement.lines.map((l) => l.transactionId)).toEqual(posted.map((p) => p.id))
    expect(statement.lines[2]!.description).toBe('Перевод другу, «спасибо»')
    expect(statement.lines[0]!.date).toBe(posted[0]!.createdAt)
  })

  it('never shows the other side of a transfer more than its wallet id', async () => {
    const statement = await walletStatement(t, bob.headers, bobUsd.id, { from: start, to: end })
    expect(statement.lines.map((l) => [l.amount, l.balanceAfter, l.counterparty])).toEqual([
      ['30.25', '30.25', aliceUsd.id],
      ['-5.00', '25.25', aliceUsd.id],
    ])
    expect(JSON.stringify(statement)).not.toContain('63.25')
  })

  it('includes a transaction exactly at from and leaves out one exactly at to', async () => {
    const [, second, third, fourth] = posted
    const statement = await walletStatement(t, alice.headers, aliceUsd.id, {
      from: second!.createdAt,
      to: fourth!.createdAt,
    })
    expect(statement.lines.map((l) => l.transactionId)).toEqual([second!.id, third!.id])
    expect(statement.openingBalance).toBe('100.00')
    expect(statement.closingBalance).toBe('74.75')
  })

  it('gives an empty period its balance as both opening and closing', async () => {
    const statement = await walletStatement(t, alice.headers, aliceUsd.id, {
      from: end,
      to: new Date(Date.parse(end) + 60_000).toISOString(),
    })
    expect(statement).toMatchObject({ openingBalance: '63.25', closingBalance: '63.25', lines: [] })
    expect(statement.totals).toEqual({ moneyIn: '0.00', moneyOut: '0.00', count: 0, byType: [] })
  })

  it('starts a wallet created mid-period at zero, and a period before it at zero too', async () => {
    const before = await walletStatement(t, alice.headers, aliceUsd.id, {
      from: new Date(Date.parse(start) - 10 * 86_400_000).toISOString(),
      to: start,
    })
    expect(before).toMatchObject({ openingBalance: '0.00', closingBalance: '0.00', lines: [] })
    const mid = await walletStatement(t, alice.headers, aliceUsd.id, {
      from: new Date(Date.parse(start) - 5 * 86_400_000).toISOString(),
      to: end,
    })
    expect(mid.openingBalance).toBe('0.00')
    expect(mid.lines).toHaveLength(5)
  })

  it('draws day boundaries and prints dates in the time zone asked for', async () => {
    const zone = 'Asia/Tokyo'
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(new Date())
    const tomorrow = new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(
      new Date(Date.now() + 86_400_000),
    )
    const statement = await walletStatement(t, alice.headers, aliceUsd.id, {
      from: today,
      to: tomorrow,
      tz: zone,
    })
    // Tokyo is UTC+9 all year: its midnight is 15:00 UTC the day before.
    expect(new Date(statement.period.from).getUTCHours()).toBe(15)
    expect(statement.period.timeZone).toBe(zone)
    const deposit = statement.lines.find((l) => l.transactionId === posted[0]!.id)
    if (deposit) {
      expect(deposit.date).toMatch(/\+09:00$/)
      expect(Date.parse(deposit.date)).toBe(Date.parse(posted[0]!.createdAt))
    } else {
      // The run crossed Tokyo's midnight between the deposit and now.
      expect(Date.parse(posted[0]!.createdAt)).toBeLessThan(Date.parse(statement.period.from))
    }
  })

  it("answers 404 for another user's wallet, and lets an admin read any", async () => {
    const refused = await getStatement(t, bob.headers, `/wallets/${aliceUsd.id}/statement`, {
      from: start,
      to: end,
    })
    expect(refused.statusCode).toBe(404)
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(refused.json<Problem>().code).toBe('wallet_not_found')
    const admin = await signUp(t, { roles: ['admin'] })
    const statement = await walletStatement(t, admin.headers, aliceUsd.id, { from: start, to: end })
    expect(statement.closingBalance).toBe('63.25')
    const anonymous = await getStatement(t, {}, `/wallets/${aliceUsd.id}/statement`, { from: start, to: end })
    expect(anonymous.statusCode).toBe(401)
  })

  it.each([
    [{ from: 'yesterday', to: '2026-12-01' }, 'invalid_statement_period'],
    [{ from: '2026-02-30', to: '2026-03-05' }, 'invalid_statement_period'],
    [{ from: '2026-01-01T00:00:00', to: '2026-01-05' }, 'invalid_statement_period'],
    [{ from: '2026-03-05', to: '2026-03-01' }, 'invalid_statement_period'],
    [{ from: '2026-03-01', to: '2026-03-01' }, 'invalid_statement_period'],
    [{ from: '2019-01-01', to: '2026-01-01' }, 'statement_period_too_long'],
    [{ from: '2026-01-01', to: '2026-01-05', tz: 'Mars/Olympus_Mons' }, 'unknown_time_zone'],
  ])('refuses %j with 422 %s', async (query, code) => {
    const response = await getStatement(t, alice.headers, `/wallets/${aliceUsd.id}/statement`, query)
    expect(response.statusCode, response.body).toBe(422)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    const problem = response.json<Problem>()
    expect(problem.code).toBe(code)
    expect(problem.detail).toBeTruthy()
  })

  it('refuses a missing period and an unknown format as bad input', async () => {
    const missing = await getStatement(t, alice.headers, `/wallets/${aliceUsd.id}/statement`, { from: start })
    expect(missing.statusCode).toBeOneOf([400, 422])
    const format = await getStatement(t, alice.headers, `/wallets/${aliceUsd.id}/statement`, {
      from: start,
      to: end,
      format: 'xlsx',
    })
    expect(format.statusCode).toBeOneOf([400, 422])
    expect(format.headers['content-type']).toMatch(/^application\/problem\+json/)
  })
})

describe('formats', () => {
  it('takes the format from Accept when the query names none, and 406 when Accept allows none', async () => {
    const csv = await getStatement(
      t,
      { ...alice.headers, accept: 'text/csv' },
      `/wallets/${aliceUsd.id}/statement`,
      { from: start, to: end },
    )
    expect(csv.statusCode).toBe(200)
    expect(csv.headers['content-type']).toMatch(/^text\/csv/)
    const pdf = await getStatement(
      t,
      { ...alice.headers, accept: 'application/pdf' },
      `/wallets/${aliceUsd.id}/statement`,
      { from: start, to: end },
    )
    expect(pdf.headers['content-type']).toBe('application/pdf')
    const refused = await getStatement(
      t,
      { ...alice.headers, accept: 'image/png' },
      `/wallets/${aliceUsd.id}/statement`,
      { from: start, to: end },
    )
    expect(refused.statusCode).toBe(406)
    expect(refused.json<Problem>().code).toBe('statement_format_not_acceptable')
  })

  it('writes CSV that parses back and reconciles to the cent with the JSON statement', async () => {
    const response = await getStatement(t, alice.headers, `/wallets/${aliceUsd.id}/statement`, {
      from: start,
      to: end,
      format: 'csv',
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="statement-USD-.*\.csv"/)
    expect(response.body).toContain('\r\n')
    const rows = parse(response.body, { columns: true }) as Record<string, string>[]
    const json = await walletStatement(t, alice.headers, aliceUsd.id, { from: start, to: end })
    expect(rows).toHaveLength(json.lines.length)
    const sum = rows.reduce((acc, row) => acc + minorOf(row.amount!, 2), 0n)
    expect(minorOf(json.openingBalance, 2) + sum).toBe(minorOf(json.closingBalance, 2))
    rows.forEach((row, i) => {
      const line = json.lines[i]!
      expect(row).toMatchObject({
        date: line.date,
        type: line.type,
        amount: line.amount,
        balance_after: line.balanceAfter,
        transaction_id: line.transactionId,
        currency: 'USD',
      })
    })
    expect(rows[2]!.description).toBe('Перевод другу, «спасибо»')
  })

  it('prints a PDF with the balances, non-Latin text, page numbers and the CSV fingerprint', async () => {
    const response = await getStatement(t, alice.headers, `/wallets/${aliceUsd.id}/statement`, {
      from: start,
      to: end,
      format: 'pdf',
    })
    expect(response.statusCode).toBe(200)
    const pdf = response.rawPayload
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-')
    const { text, pages } = await pdfText(pdf)
    const csv = await getStatement(t, alice.headers, `/wallets/${aliceUsd.id}/statement`, {
      from: start,
      to: end,
      format: 'csv',
    })
    const fingerprint = createHash('sha256').update(csv.rawPayload).digest('hex')
    expect(text).toContain('63.25')
    expect(text).toContain('0.00')
    expect(text).toContain('Перевод другу')
    expect(text).toContain('Καφές')
    expect(text).toContain('Алиса Петрова')
    expect(text).toContain(`Page 1 of ${pages}`)
    expect(text.replace(/\s+/g, '')).toContain(fingerprint)
  })
})
