import { createHash } from 'node:crypto'
import { parse } from 'csv-parse/sync'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { claimJob } from '../../src/statements/statements.repository.js'
import type { StatementJobView } from '../../src/statements/statements.schemas.js'
import type { WalletView } from '../../src/wallets/wallets.schemas.js'
import { type RunningStatements, startStatements } from '../../src/worker/statements.js'
import { createTestApp, type TestApp } from '../app.js'
import { type CreatedApiKey, createApiKey, type SignedUpUser, signUp } from '../auth-fixtures.js'
import { fund, openWallet, type Problem } from '../wallets/fixtures.js'
import { getStatement, jobDone, jobOf, minorOf, pdfText } from './fixtures.js'

let t: TestApp
let service: CreatedApiKey
let alice: SignedUpUser
let wallet: WalletView
let runner: RunningStatements | undefined
const DAY = 86_400_000
const LINES = 12

beforeAll(async () => {
  t = await createTestApp({
    env: { STATEMENT_MAX_CONCURRENT_JOBS: '2', STATEMENT_IMMEDIATE_MAX_LINES: '10' },
  })
  service = await createApiKey(t, ['service'])
  alice = await signUp(t)
  wallet = await openWallet(t, alice.headers, 'EUR')
  for (let i = 0; i < LINES; i += 1) await fund(t, service.headers, wallet.id, `${i + 1}.00`)
})
afterEach(async () => {
  await runner?.close()
  runner = undefined
})
afterAll(() => t.close())

/** A distinct long period per call, each holding every line so far: each is its own job. */
let periods = 0
function longPeriod(): { from: string; to: string } {
  periods += 1
  return {
    from: new Date(Date.now() - 40 * DAY - periods * 1000).toISOString(),
    to: new Date(Date.now() + DAY).toISOString(),
  }
}

async function requestJob(
  query: Record<string, string>,
  headers: Record<string, string> = alice.headers,
): Promise<StatementJobView> {
  const response = await getStatement(t, headers, `/wallets/${wallet.id}/statement`, query)
  expect(response.statusCode, response.body).toBe(202)
  const job = response.json<StatementJobView>()
  expect(response.headers.location).toBe(`/api/v1/statements/${job.id}`)
  expect(response.headers['retry-after']).toBe('1')
  return job
}

function download(jobId: string, headers: Record<string, string> = alice.headers) {
  return t.app.inject({ method: 'GET', url: `/api/v1/statements/${jobId}/file`, headers })
}

async function cancelOpenJobs(): Promise<void> {
  await t.database.db.deleteFrom('statement_jobs').where('status', 'in', ['queued', 'running']).execute()
}

describe('long statements are jobs', () => {
  it('makes a period over 15 days a job whose progress reaches done and whose file downloads', async () => {
    const job = await requestJob({ ...longPeriod(), format: 'csv' })
    expect(job).toMatchObject({
      status: 'queued',
      format: 'csv',
      kind: 'wallet',
      accountId: wallet.id,
      file: null,
    })
    runner = startStatements(t.container, { pollMs: 20 })
    const done = await jobDone(t, alice.headers, job.id)
    expect(done.status).toBe('done')
    expect(done.progress).toEqual({ linesDone: LINES, linesTotal: LINES, percent: 100 })
    expect(done.file).toMatchObject({
      url: `/api/v1/statements/${job.id}/file`,
      contentType: expect.stringMatching(/^text\/csv/),
    })
    expect(done.expiresAt).not.toBeNull()

    const file = await download(job.id)
    expect(file.statusCode).toBe(200)
    expect(file.headers['content-disposition']).toMatch(/^attachment; filename="statement-EUR-/)
    expect(Number(file.headers['content-length'])).toBe(done.file!.size)
    expect(file.headers.etag).toBe(`"${done.file!.sha256}"`)
    const sha256 = createHash('sha256').update(file.rawPayload).digest('hex')
    expect(sha256).toBe(done.file!.sha256)
    // A CSV is its own fingerprint.
    expect(done.fingerprint).toBe(sha256)
    const rows = parse(file.body, { columns: true }) as Record<string, string>[]
    expect(rows).toHaveLength(LINES)
    expect(rows.reduce((acc, row) => acc + minorOf(row.amount!, 2), 0n)).toBe(7800n)

    const again = await t.app.inject({
      method: 'GET',
      url: `/api/v1/statements/${job.id}/file`,
      headers: { ...alice.headers, 'if-none-match': file.headers.etag as string },
    })
    expect(again.statusCode).toBe(304)
  })

  it("prints the job's fingerprint in the PDF footer", async () => {
    const job = await requestJob({ ...longPeriod(), format: 'pdf', tz: 'Europe/Moscow' })
    runner = startStatements(t.container, { pollMs: 20 })
    const done = await jobDone(t, alice.headers, job.id)
    expect(done.status).toBe('done')
    const file = await download(job.id)
    expect(file.headers['content-type']).toBe('application/pdf')
    const { text } = await pdfText(file.rawPayload)
    expect(text.replace(/\s+/g, '')).toContain(done.fingerprint!)
    expect(text).toContain('78.00')
    expect(text).toContain('Europe/Moscow')
  })

  it('makes a short period with more lines than the immediate limit a job, and so does Prefer: respond-async', async () => {
    const short = {
      from: new Date(Date.now() - DAY).toISOString(),
      to: new Date(Date.now() + DAY).toISOString(),
    }
    await requestJob(short)
    await requestJob({ ...short, format: 'csv' }, { ...alice.headers, prefer: 'respond-async' })
    await cancelOpenJobs()
  })

  it('answers the same job for the same statement asked again while it is made', async () => {
    const period = longPeriod()
    const first = await requestJob(period)
    const second = await requestJob(period)
    expect(second.id).toBe(first.id)
    await cancelOpenJobs()
  })

  it('limits the jobs one caller has open at once: 429 past it', async () => {
    await requestJob(longPeriod())
    await requestJob(longPeriod())
    const refused = await getStatement(t, alice.headers, `/wallets/${wallet.id}/statement`, longPeriod())
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(refused.headers['retry-after']).toBeDefined()
    expect(refused.json<Problem>().code).toBe('too_many_statement_jobs')
    // Others have their own allowance.
    const admin = await signUp(t, { roles: ['admin'] })
    await requestJob(longPeriod(), admin.headers)
    await cancelOpenJobs()
  })

  it('answers 409 for the file of a job not done yet', async () => {
    const job = await requestJob(longPeriod())
    const early = await download(job.id)
    expect(early.statusCode).toBe(409)
    expect(early.json<Problem>()).toMatchObject({ code: 'statement_not_ready', jobStatus: 'queued' })
    await cancelOpenJobs()
  })

  it("shows a job only to who asked for it, the wallet's owner and admins", async () => {
    const job = await requestJob(longPeriod())
    const mallory = await signUp(t)
    const hidden = await t.app.inject({
      method: 'GET',
      url: `/api/v1/statements/${job.id}`,
      headers: mallory.headers,
    })
    expect(hidden.statusCode).toBe(404)
    expect(hidden.json<Problem>().code).toBe('statement_job_not_found')
    expect((await download(job.id, mallory.headers)).statusCode).toBe(404)
    const admin = await signUp(t, { roles: ['admin'] })
    expect((await jobOf(t, admin.headers, job.id)).id).toBe(job.id)
    // A job an admin asked for on Alice's wallet is Alice's to see too.
    const adminJob = await requestJob(longPeriod(), admin.headers)
    expect((await jobOf(t, alice.headers, adminJob.id)).id).toBe(adminJob.id)
    const unknown = await t.app.inject({
      method: 'GET',
      url: '/api/v1/statements/00000000-0000-4000-8000-000000000000',
      headers: alice.headers,
    })
    expect(unknown.statusCode).toBe(404)
    await cancelOpenJobs()
  })

  it('picks up a job whose worker died mid-way, once its lease ran out', async () => {
    const job = await requestJob({ ...longPeriod(), format: 'json' })
    // A worker takes it and dies: it never renews its lease, never finishes.
    const taken = await claimJob(t.database.db, 'dead-worker', 300)
    expect(taken?.id).toBe(job.id)
    expect((await jobOf(t, alice.headers, job.id)).status).toBe('running')
    runner = startStatements(t.container, { pollMs: 20, leaseMs: 300, workerId: 'live-worker' })
    const done = await jobDone(t, alice.headers, job.id)
    expect(done.status).toBe('done')
    expect(done.attempts).toBe(2)
    const file = await download(job.id)
    const statement = file.json<{ lines: unknown[]; closingBalance: string }>()
    expect(statement.lines).toHaveLength(LINES)
    expect(statement.closingBalance).toBe('78.00')
  })

  it('deletes finished jobs and their files after the retention', async () => {
    const job = await requestJob({ ...longPeriod(), format: 'csv' })
    runner = startStatements(t.container, { pollMs: 20 })
    await jobDone(t, alice.headers, job.id)
    expect(await t.container.statements.purgeExpired()).toBe(0)
    await t.database.db
      .updateTable('statement_jobs')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', job.id)
      .execute()
    expect(await t.container.statements.purgeExpired()).toBe(1)
    expect((await download(job.id)).statusCode).toBe(404)
    const parts = await t.database.db
      .selectFrom('statement_files')
      .select('part')
      .where('job_id', '=', job.id)
      .execute()
    expect(parts).toEqual([])
  })
})
