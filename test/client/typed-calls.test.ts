import { readFile } from 'node:fs/promises'
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  type CofferClient,
  CofferProblemError,
  isProblem,
  type ProblemCodeOf,
  requiresIdempotencyKey,
} from '../../packages/client/src/index.js'

/**
 * Calls that must not compile. Never run: `tsc --noEmit` (npm run lint) checks them, and an
 * unused @ts-expect-error, a call that compiles after all, fails it.
 */
async function malformedCallsDoNotCompile(client: CofferClient): Promise<void> {
  // @ts-expect-error no such path
  await client.GET('/api/v1/no-such-route')
  // @ts-expect-error the wallet id is a required path parameter
  await client.GET('/api/v1/wallets/{id}')
  // @ts-expect-error a transfer needs a body
  await client.POST('/api/v1/transfers', {})
  // @ts-expect-error amounts are decimal strings, never JS numbers
  await client.POST('/api/v1/transfers', { body: { fromWalletId: 'w', amount: 10.5 } })
  // @ts-expect-error a misspelt body member is an excess property
  await client.POST('/api/v1/wallets', { body: { currency: 'USD', curency: 'USD' } })
  // @ts-expect-error the statement period is required
  await client.requestStatement('/api/v1/wallets/{id}/statement', { params: { path: { id: 'w' } } })
  const error: unknown = null
  // @ts-expect-error problem codes are the catalogue's, not any string
  isProblem(error, 'insufficient_fund')
  const file = { params: { path: { jobId: 'j' } } }
  // @ts-expect-error downloads are blobs, text, streams or array buffers
  await client.download('/api/v1/statements/{jobId}/file', { ...file, parseAs: 'json' })
}

/** Well-formed calls and the types of their answers. Never run; type-checked like the above. */
async function answersAreTyped(client: CofferClient): Promise<void> {
  const wallet = await client.GET('/api/v1/wallets/{id}', { params: { path: { id: 'w' } } })
  expectTypeOf(wallet.data.balance).toEqualTypeOf<string>()
  // The client supplies the Idempotency-Key the API requires; the caller may pin one.
  const deposit = await client.POST('/api/v1/wallets/{id}/deposits', {
    params: { path: { id: 'w' } },
    body: { amount: '1.00' },
    idempotencyKey: 'form-1',
  })
  expectTypeOf(deposit.data.amount).toEqualTypeOf<string>()
  const csv = await client.download('/api/v1/statements/{jobId}/file', {
    params: { path: { jobId: 'j' } },
    parseAs: 'text',
  })
  expectTypeOf(csv.body).toEqualTypeOf<string>()
  const pdf = await client.download('/api/v1/statements/{jobId}/file', { params: { path: { jobId: 'j' } } })
  expectTypeOf(pdf.body).toEqualTypeOf<Blob>()
  const error: unknown = null
  if (isProblem(error, 'insufficient_funds')) expectTypeOf(error.code).toEqualTypeOf<'insufficient_funds'>()
}

describe('typed calls', () => {
  it('type-checks the calls above (npm run lint fails when a malformed one compiles)', () => {
    expectTypeOf(malformedCallsDoNotCompile).toBeFunction()
    expectTypeOf(answersAreTyped).toBeFunction()
  })

  it('derives the problem codes from the error answers only, once the document declares them', () => {
    interface EnumPaths {
      '/things/{code}': {
        put: {
          responses: {
            200: { content: { 'application/json': { code: 'USD' } } }
            404: { content: { 'application/problem+json': { code: 'thing_not_found'; detail: string } } }
            503: { content: { 'application/problem+json': { code: 'unavailable'; detail: string } } }
          }
        }
      }
    }
    expectTypeOf<ProblemCodeOf<EnumPaths>>().toEqualTypeOf<'thing_not_found' | 'unavailable'>()
    expectTypeOf<
      ProblemCodeOf<{ '/x': { get: { responses: { 200: { content: never } } } } }>
    >().toEqualTypeOf<string>()
  })

  it('knows exactly the operations whose OpenAPI declares an Idempotency-Key header', async () => {
    const document = JSON.parse(await readFile('packages/client/openapi.json', 'utf8')) as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>
    }
    const operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({
        method,
        path,
        declaresKey: (operation.parameters ?? []).some(
          (parameter) => parameter.in === 'header' && parameter.name.toLowerCase() === 'idempotency-key',
        ),
      })),
    )
    expect(operations.filter((operation) => operation.declaresKey).length).toBeGreaterThan(10)
    for (const { method, path, declaresKey } of operations) {
      expect(requiresIdempotencyKey(method, path), `${method.toUpperCase()} ${path}`).toBe(declaresKey)
    }
  })

  it('isProblem narrows by code and tells problems from other errors', () => {
    const response = new Response(null, { status: 404 })
    const problem = new CofferProblemError(response, {
      type: 'urn:coffer:problem:wallet_not_found',
      title: 'Wallet not found',
      status: 404,
      detail: 'No wallet with this id',
      code: 'wallet_not_found',
      requestId: 'req-1',
    })
    expect(isProblem(problem)).toBe(true)
    expect(isProblem(problem, 'wallet_not_found')).toBe(true)
    expect(isProblem(problem, 'insufficient_funds')).toBe(false)
    expect(isProblem(new Error('wallet_not_found'))).toBe(false)
    expect(problem.requestId).toBe('req-1')
    expect(problem.message).toBe('404 wallet_not_found: No wallet with this id')
  })
})
