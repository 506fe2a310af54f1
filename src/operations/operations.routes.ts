import type { TSchema } from 'typebox'
import { principalOf } from '../auth/access.js'
import type { App } from '../http/app-type.js'
import { InvalidRequest } from '../http/http.errors.js'
import { replyIdempotently } from '../http/idempotency.js'
import { validationProblem } from '../http/input-checks.js'
import { problemResponses } from '../http/problem.schemas.js'
import {
  anyone,
  IDEMPOTENT,
  IdempotencyHeaders,
  jsonResponse,
  LocationHeader,
  movementErrors,
  security,
} from '../http/route-conventions.js'
import { validatorCompiler } from '../http/validator.js'
import {
  CreateOperationBody,
  DepositOperationBody,
  Operation,
  OperationAccepted,
  OperationParams,
  TransferOperationBody,
  WithdrawalOperationBody,
} from './operations.schemas.js'
import type { OperationsService } from './operations.service.js'

const tags = ['operations']

interface BodyIssue {
  instancePath: string
  keyword: string
  message?: string
  params?: Record<string, unknown>
}
type BodyCheck = (value: unknown) => { error?: BodyIssue[]; value?: unknown }

/** The body of one type, checked by the route validator (metadata limits included). */
function bodyCheck(schema: TSchema): BodyCheck {
  return validatorCompiler({ schema, httpPart: 'body', method: 'POST', url: '/operations' }) as BodyCheck
}

const OPERATION_TYPES = ['deposit', 'withdrawal', 'transfer'] as const
const bodyChecks: Record<(typeof OPERATION_TYPES)[number], BodyCheck> = {
  deposit: bodyCheck(DepositOperationBody),
  withdrawal: bodyCheck(WithdrawalOperationBody),
  transfer: bodyCheck(TransferOperationBody),
}

/**
 * The body against the schema its `type` names, before the union of all three: the union alone
 * reports every branch's mismatch (a deposit "must have fromWalletId"), and skips the metadata
 * limits, which the route validator checks on an object's own properties only.
 */
async function checkOperationBody(request: { body: unknown }): Promise<void> {
  const { body } = request
  const type = body !== null && typeof body === 'object' ? (body as { type?: unknown }).type : undefined
  const check = OPERATION_TYPES.find((known) => known === type)
  if (!check) {
    const message = `must be one of ${OPERATION_TYPES.join(', ')}`
    throw new InvalidRequest({
      detail: `body/type ${message}`,
      errors: [
        { instancePath: '/type', keyword: 'enum', params: { allowedValues: OPERATION_TYPES }, message },
      ],
    })
  }
  const result = bodyChecks[check](body)
  if (result.error) {
    throw validationProblem(
      result.error,
      result.error.map((issue) => `body${issue.instancePath} ${issue.message}`).join(', '),
    )
  }
}

export async function operationRoutes(app: App, deps: { operations: OperationsService }) {
  const { operations } = deps

  app.post(
    '/operations',
    {
      config: { access: anyone },
      preValidation: checkOperationBody,
      schema: {
        operationId: 'createOperation',
        tags,
        security,
        summary: 'Accept a deposit, withdrawal or transfer, applied asynchronously',
        description:
          'Cheap checks first (the wallet is yours, currency and amount syntax, an already short ' +
          'balance, the self-deposit policy of the synchronous route): a refusal answers at once. ' +
          `Otherwise 202 with the operation and its Location; GET it until it succeeded or failed. ${IDEMPOTENT}`,
        headers: IdempotencyHeaders,
        body: CreateOperationBody,
        response: {
          202: jsonResponse(OperationAccepted, {
            description: 'Accepted: poll Location until the operation succeeded or failed',
            headers: LocationHeader('The operation: GET /api/v1/operations/{id}'),
          }),
          ...movementErrors,
          ...problemResponses(503),
        },
      },
    },
    (request, reply) =>
      replyIdempotently(request, reply, async (claim, renderRefusal) => {
        const answer = await operations.accept(principalOf(request), claim, request.body, renderRefusal)
        if (answer.status === 202) {
          const { id } = JSON.parse(answer.body) as { id: string }
          reply.header('location', `/api/v1/operations/${id}`)
          await operations.dispatch(id)
        }
        return answer
      }),
  )

  app.get(
    '/operations/:id',
    {
      config: { access: anyone },
      schema: {
        operationId: 'getOperation',
        tags,
        security,
        summary: 'An operation: accepted, succeeded with its transaction, or failed with the problem',
        description: "The caller's own operations (admins and services: any); another user's is 404.",
        params: OperationParams,
        response: {
          200: jsonResponse(Operation, { description: 'The operation as it is now' }),
          ...problemResponses(400, 401, 404),
        },
      },
    },
    async (request) => operations.get(principalOf(request), request.params.id),
  )
}
