import { parse } from 'csv-parse/sync'
import { Value } from 'typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  StatementDocument,
  type StatementDocumentView,
} from '../../src/statements/statement-document.schemas.js'
import type { StatementJobView } from '../../src/statements/statements.schemas.js'
import { startStatements } from '../../src/worker/statements.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { earn, postPoints } from '../points/fixtures.js'
import { type Problem, pause } from '../wallets/fixtures.js'
import { getStatement, jobDone, pdfText } from './fixtures.js'

let t: TestApp
let service: CreatedApiKey
let admin: SignedUpUser
let ada: SignedUpUser
let start: string
let end: string

beforeAll(async () => {
  t = await createTestApp()
  service = await createApiKey(t, ['service'])
  admin = await signUp(t, { roles: ['admin'] })
  ada = await signUp(t, { name: 'Ada' })
  start = new Date(Date.now() - 1000).toISOString()
  await earn(t, service.headers, {
    userId: ada.userId,
    points: '100',
    source: 'purchase',
    description: 'Покупка в магазине',
  })
  await pause()
  await earn(t, service.headers, { userId: ada.userId, points: '50', source: 'welcome' })
  await pause()
  const spent = await postPoints(t, ada.headers, '/spend', { points: '30', source: 'reward-shop' })
  expect(spent.statusCode, spent.body).toBe(201)
  await pause()
  const adjusted = await postPoints(t, admin.headers, '/adjust', {
    userId: ada.userId,
    points: '-5',
    reason: 'goodwill fix',
  })
  expect(adjusted.statusCode, adjusted.body).toBe(201)
  end = new Date(Date.now() + 1000).toISOString()
})
afterAll(() => t.close())

async function pointsStatement(
  headers: Record<string, string>,
  query: Record<string, string>,
): Promise<StatementDocumentView> {
  const response = await getStatement(t, headers, '/points/statement', query)
  expect(response.statusCode, response.body).toBe(200)
  return response.json<StatementDocumentView>()
}

describe('GET /points/statement', () => {
  it("gives the caller's points: opening, closing, totals by type and every line with its total after", async () => {
    const statement = await pointsStatement(ada.headers, { from: start, to: end })
    expect(Value.Check(StatementDocument, statement)).toBe(true)
    expect(statement).toMatchObject({
      kind: 'points',
      holder: { userId: ada.userId, email: ada.email, name: 'Ada' },
      currency: 'PTS',
      openingBalance: '0',
      closingBalance: '115',
      totals: { moneyIn: '150', moneyOut: '35', count: 4 },
    })
    expect(statement.accountId).not.toBeNull()
    expect(statement.lines.map((l) => [l.type, l.amount, l.balanceAfter, l.counterparty])).toEqual([
      ['points_earn', '100', '100', 'purchase'],
      ['points_earn', '50', '150', 'welcome'],
      ['points_spend', '-30', '120', 'reward-shop'],
      ['points_adjust', '-5', '115', expect.anything()],
    ])
    expect(statement.lines[0]!.description).toBe('Покупка в магазине')
  })

  it('gives a user who never had points an empty statement at zero', async () => {
    const newcomer = await signUp(t)
    const statement = await pointsStatement(newcomer.headers, { from: start, to: end })
    expect(statement).toMatchObject({ accountId: null, openingBalance: '0', closingBalance: '0', lines: [] })
  })

  it("lets admins read anyone's, and no user another's", async () => {
    const statement = await pointsStatement(admin.headers, { from: start, to: end, userId: ada.userId })
    expect(statement.closingBalance).toBe('115')
    const other = await signUp(t)
    const refused = await getStatement(t, other.headers, '/points/statement', {
      from: start,
      to: end,
      userId: ada.userId,
    })
    expect(refused.statusCode).toBe(404)
    expect(refused.json<Problem>().code).toBe('points_user_not_found')
  })

  it('prints a PDF and makes a long period a job, as wallet statements', async () => {
    const pdf = await getStatement(t, ada.headers, '/points/statement', {
      from: start,
      to: end,
      format: 'pdf',
    })
    expect(pdf.statusCode).toBe(200)
    const { text } = await pdfText(pdf.rawPayload)
    expect(text).toContain('Points statement')
    expect(text).toContain('Покупка в магазине')
    expect(text).toContain('115')

    const long = await getStatement(t, ada.headers, '/points/statement', {
      from: new Date(Date.now() - 60 * 86_400_000).toISOString(),
      to: end,
      format: 'csv',
    })
    expect(long.statusCode, long.body).toBe(202)
    const runner = startStatements(t.container, { pollMs: 20 })
    try {
      const job = await jobDone(t, ada.headers, long.json<StatementJobView>().id)
      expect(job).toMatchObject({ status: 'done', kind: 'points', currency: 'PTS' })
      const file = await t.app.inject({ method: 'GET', url: job.file!.url, headers: ada.headers })
      const rows = parse(file.body, { columns: true }) as Record<string, string>[]
      expect(rows.map((r) => r.amount)).toEqual(['100', '50', '-30', '-5'])
    } finally {
      await runner.close()
    }
  })
})
