import { createHash, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { withAdmin } from '../database.js'
import { databaseUrlFor } from '../shape.js'
import { ADMIN_EMAIL, ADMIN_PASSWORD, call, cofferEnv, reportSummary, signedInToken } from './support/api.js'
import { type CofferProcess, runCli, startCoffer, until } from './support/processes.js'

/**
 * `kill -9` of the process generating a statement job, mid-job, then a new process: the job a
 * dead worker held is taken over once its lease runs out, and its file is whole.
 */

const LINES = 15_000
const LEASE_SECONDS = 2
const name = `coffer_fault_statements_${randomUUID().replaceAll('-', '').slice(0, 12)}`
const databaseUrl = databaseUrlFor(name)
const env = { ...cofferEnv(databaseUrl), STATEMENT_LEASE_SECONDS: String(LEASE_SECONDS) }
let coffer: CofferProcess | undefined

beforeAll(async () => {
  await withAdmin((admin) => admin.query(`create database ${name}`))
})

afterAll(async () => {
  await coffer?.stop()
  await withAdmin((admin) => admin.query(`drop database if exists ${name} with (force)`))
})

interface Job {
  id: string
  status: string
  attempts: number
  progress: { linesDone: number; linesTotal: number | null }
  file: { url: string; sha256: string; size: number } | null
  fingerprint: string | null
}

it('takes over a statement job whose worker was killed mid-way, and finishes it whole', async () => {
  coffer = await startCoffer(env)
  const token = await signedInToken(coffer.baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD)
  const opened = await call(coffer.baseUrl, 'POST', '/api/v1/wallets', {
    token,
    body: { currency: 'USD', userId: randomUUID() },
  })
  expect(opened.status).toBe(201)
  const walletId = (opened.body as { id: string }).id
  let next = 0
  const deposit = async () => {
    while (next < LINES) {
      next += 1
      const answer = await call(coffer!.baseUrl, 'POST', `/api/v1/wallets/${walletId}/deposits`, {
        token,
        key: randomUUID(),
        body: { amount: '1.00', description: `Пополнение ${next}` },
      })
      expect(answer.status).toBe(201)
    }
  }
  await Promise.all(Array.from({ length: 32 }, deposit))

  const period = {
    from: new Date(Date.now() - 60 * 86_400_000).toISOString(),
    to: new Date(Date.now() + 86_400_000).toISOString(),
  }
  // The job may finish before the kill lands; then another is asked for (another zone), until one
  // is killed running.
  let killed: Job | undefined
  for (const tz of ['UTC', 'Europe/Moscow', 'Asia/Tokyo', 'America/New_York']) {
    const asked = await call(
      coffer.baseUrl,
      'GET',
      `/api/v1/wallets/${walletId}/statement?${new URLSearchParams({ ...period, tz, format: 'pdf' })}`,
      { token },
    )
    expect(asked.status).toBe(202)
    const jobId = (asked.body as Job).id
    let job = asked.body as Job
    await until(
      async () => {
        job = (await call(coffer!.baseUrl, 'GET', `/api/v1/statements/${jobId}`, { token })).body as Job
        return job.status !== 'queued'
      },
      'the job to start',
      30_000,
    )
    await coffer.kill9()
    coffer = await startCoffer(env)
    const after = (await call(coffer.baseUrl, 'GET', `/api/v1/statements/${jobId}`, { token })).body as Job
    if (job.status === 'running' && after.status === 'running') {
      killed = after
      break
    }
  }
  expect(killed, 'no job was killed while running').toBeDefined()

  let done = killed!
  await until(
    async () => {
      done = (await call(coffer!.baseUrl, 'GET', `/api/v1/statements/${killed!.id}`, { token })).body as Job
      return done.status === 'done' || done.status === 'failed'
    },
    'the job to be taken over and finished',
    120_000,
  )
  expect(done.status).toBe('done')
  expect(done.attempts).toBeGreaterThanOrEqual(2)
  expect(done.progress).toMatchObject({ linesDone: LINES, linesTotal: LINES })
  const file = await fetch(`${coffer.baseUrl}${done.file!.url}`, {
    headers: { authorization: `Bearer ${token}` },
  })
  expect(file.status).toBe(200)
  const bytes = Buffer.from(await file.arrayBuffer())
  expect(bytes.length).toBe(done.file!.size)
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(done.file!.sha256)
  expect(bytes.subarray(0, 5).toString()).toBe('%PDF-')
  expect(bytes.subarray(-6).toString()).toContain('%%EOF')

  const verify = await runCli(['verify'], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' })
  expect(verify.code, verify.stdout + verify.stderr).toBe(0)
  await reportSummary(
    `statement-worker-kill: lines=${LINES} kill -9 mid-job, taken over after the ${LEASE_SECONDS}s lease, attempts=${done.attempts} file whole (sha256 matches)`,
  )
})
