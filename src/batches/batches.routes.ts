import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { IDEMPOTENCY_REPLAYED_HEADER, requestFingerprint } from '../http/idempotency.js'
import { problemResponses } from '../http/problem.schemas.js'
import { problemBody } from '../http/problem-handler.js'
import { anyone, jsonResponse, security } from '../http/route-conventions.js'
import { callerScope } from '../ledger/idempotency-keys.js'
import { BatchBody, BatchResult, MAX_BATCH_ITEMS } from './batches.schemas.js'
import { type BatchesService, singleRequestOf } from './batches.service.js'

export async function batchRoutes(app: App, deps: { batches: BatchesService }) {
  const { batches } = deps

  app.post(
    '/batches',
    {
      config: { access: anyone },
      // 1,000 movements with descriptions and metadata are more than the default 1 MiB.
      bodyLimit: 16 * 1024 * 1024,
      schema: {
        operationId: 'createBatch',
        tags: ['batches'],
        security,
        summary: `Up to ${MAX_BATCH_ITEMS} deposits, withdrawals, transfers and purchases in one request`,
        description:
          "Each item carries its own idempotencyKey (no Idempotency-Key header): a retry of the batch, or of any item through its own route, replays its answer. Independent by default (each item succeeds or fails alone, with the status its own route would answer); atomic: all applied or none (422 atomic_batch_refused, with every item's outcome); dryRun: every check under the locks, nothing applied, nothing recorded.",
        body: BatchBody,
        response: {
          200: jsonResponse(BatchResult, {
            description: "Every item's outcome, in the order of the request",
            headers: {
              'Idempotency-Replayed': Type.Literal('true', {
                description: "Present when every item's answer was recorded by an earlier request",
              }),
            },
          }),
          ...problemResponses(400, 401, 409, 422),
        },
      },
    },
    async (request, typedReply) => {
      // The answer is JSON text built from the items' stored bodies, not an object to serialize.
      const reply: FastifyReply = typedReply
      const principal = principalOf(request)
      const scope = callerScope(principal)
      const claims = request.body.items.map((item) => {
        const single = singleRequestOf(item)
        return {
          scope,
          key: item.idempotencyKey,
          fingerprint: requestFingerprint('POST', single.url, single.params, single.body),
        }
      })
      const answer = await batches.post(principal, request.body, claims, (error) =>
        problemBody(error, request),
      )
      if (answer.replayed) reply.header(IDEMPOTENCY_REPLAYED_HEADER, 'true')
      await reply.status(200).type('application/json; charset=utf-8').send(answer.body)
    },
  )
}
