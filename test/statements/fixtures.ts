import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'
import type { StatementDocumentView } from '../../src/statements/statement-document.schemas.js'
import type { StatementJobView } from '../../src/statements/statements.schemas.js'
import type { TestApp } from '../app.js'
import type { AuthHeaders } from '../auth-fixtures.js'
import { eventually } from '../wallets/fixtures.js'

const run = promisify(execFile)

export function getStatement(
  t: TestApp,
  headers: Record<string, string>,
  path: string,
  query: Record<string, string>,
): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: 'GET', url: `/api/v1${path}?${new URLSearchParams(query)}`, headers })
}

export async function walletStatement(
  t: TestApp,
  headers: AuthHeaders,
  walletId: string,
  query: Record<string, string>,
): Promise<StatementDocumentView> {
  const response = await getStatement(t, headers, `/wallets/${walletId}/statement`, query)
  expect(response.statusCode, response.body).toBe(200)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  return response.json<StatementDocumentView>()
}

export async function jobOf(t: TestApp, headers: AuthHeaders, jobId: string): Promise<StatementJobView> {
  const response = await t.app.inject({ method: 'GET', url: `/api/v1/statements/${jobId}`, headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json<StatementJobView>()
}

/** Polls the job until it is done (or failed), as a client following Location would. */
export async function jobDone(t: TestApp, headers: AuthHeaders, jobId: string): Promise<StatementJobView> {
  let job = await jobOf(t, headers, jobId)
  await eventually(
    async () => {
      job = await jobOf(t, headers, jobId)
      return job.status === 'done' || job.status === 'failed'
    },
    `statement job ${jobId} to finish`,
    30_000,
  )
  return job
}

/** A decimal string of `decimals` places to minor units, without floats. */
export function minorOf(amount: string, decimals: number): bigint {
  const negative = amount.startsWith('-')
  const [whole, fraction = ''] = (negative ? amount.slice(1) : amount).split('.')
  const minor = BigInt(whole! + fraction.padEnd(decimals, '0'))
  return negative ? -minor : minor
}

/** The text of a PDF as poppler's pdftotext lays it out, and its page count by pdfinfo. */
export async function pdfText(pdf: Buffer): Promise<{ text: string; pages: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-statement-'))
  try {
    const file = join(dir, 'statement.pdf')
    await writeFile(file, pdf)
    const { stdout: text } = await run('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-'], {
      maxBuffer: 256 * 1024 * 1024,
    })
    const { stdout: info } = await run('pdfinfo', [file])
    const pages = Number(/^Pages:\s+(\d+)/m.exec(info)?.[1])
    return { text, pages }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
