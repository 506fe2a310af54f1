import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import { Compile } from 'typebox/compile'
import { uuidv7 } from 'uuidv7'
import type { Principal } from '../auth/principal.js'
import type { Db } from '../db/database.js'
import { isDatabaseUnavailable } from '../db/unavailable.js'
import { AppError, problemType } from '../errors.js'
import type { CommandEnvelope, CommandHandler, CommandOutcome, EventBus } from '../events/bus.js'
import { outboxEvent } from '../events/outbox.js'
import { METADATA_LIMITS } from '../http/input.schemas.js'
import { forbiddenCharacterIn, jsonLimitIssues } from '../http/input-checks.js'
import type { IdempotentWriter } from '../ledger/group-commit.js'
import { IdempotencyKeyInFlight, IdempotencyKeyReused } from '../ledger/idempotency.errors.js'
import type { KeyClaim } from '../ledger/idempotency-keys.js'
import type { PostingRequest } from '../ledger/posting-types.js'
import type { EarnInput } from '../points/points.schemas.js'
import type { PointsService } from '../points/points.service.js'
import type { MovementInput, TransferInput } from '../wallets/wallets.schemas.js'
import type { WalletsService } from '../wallets/wallets.service.js'
import * as repo from './operations.repository.js'
import {
  COMMAND_TYPES,
  type CommandType,
  type CreateOperationInput,
  DepositRequested,
  type PointsEarnCommand,
  PointsEarnRequested,
  type TransferCommand,
  TransferRequested,
  type WorldMovementCommand,
} from './operations.schemas.js'
import { commandFields, OPERATIONS_SENDER, type RefusalOf, refusalIn } from './operations.service.js'
import type { OperationType } from './operations.tables.js'

const checkWorldMovement = Compile(DepositRequested)
const checkTransfer = Compile(TransferRequested)
const checkPointsEarn = Compile(PointsEarnRequested)
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * SQLSTATEs that a later attempt may not meet: serialization failure, deadlock, lock timeout,
 * statement timeout. With the database unavailable (isDatabaseUnavailable), they are the retries.
 */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03', '57014'])

export interface CommandHandlerDeps {
  db: Db
  wallets: WalletsService
  /** Applies `points.earn.requested`, as POST /points/earn does. */
  points: PointsService
  idempotency: IdempotentWriter
  bus: EventBus
  logger: Logger
  /** Services allowed to send commands (COMMAND_SENDERS), as the transport authenticates them. */
  senders: readonly string[]
  refusalOf: RefusalOf
}

/** What an operation's event and a reply say (the operation.succeeded / operation.failed payload). */
interface OperationOutcome {
  operationId: string
  type: OperationType
  status: 'succeeded' | 'failed'
  transactionId?: string
  problem?: Record<string, unknown>
}

/** A problem body for a refusal of a command: as over HTTP, without a request id or URL. */
export function commandProblem(error: AppError): Record<string, unknown> {
  return {
    ...error.extensions,
    type: problemType(error.code),
    title: error.definition.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
  }
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

export function isTransient(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true
  if (error instanceof AppError) return error.status >= 500
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && TRANSIENT_SQLSTATES.has(code)
}

function dead(reason: string): CommandOutcome {
  return { kind: 'dead', reason }
}

/**
 * The handler of `deposit.requested`, `withdrawal.requested` and `transfer.requested`: applied
 * through the same services and rules as the synchronous routes, posted by the ledger's
 * `IdempotentWriter` under the claim `command:<sender>` / operationId, so a redelivered command
 * replays the recorded answer instead of moving money twice.
 *
 * The sender is who the transport says sent it (on RabbitMQ the `user_id` property, which the
 * broker checks against the connection's user, so a service cannot pose as another): a name in
 * COMMAND_SENDERS applies as a service principal; `coffer` is Coffer's own POST /operations,
 * applied as the principal that accepted it, and only for an operation it recorded. Anyone else is
 * a dead letter.
 *
 * Success writes `operation.succeeded` in the posting's own transaction; a refusal finishes the
 * operation and writes `operation.failed` in one transaction, once, however often it is delivered.
 */
export function createCommandHandler(deps: CommandHandlerDeps): CommandHandler {
  const { db, wallets, points, idempotency, bus, logger } = deps

  async function resolveOperation(
    sender: string,
    type: OperationType,
    command: WorldMovementCommand | TransferCommand | PointsEarnCommand,
  ): Promise<{ operation: repo.OperationRow; principal: Principal } | string> {
    const { operationId, ...fields } = command
    if (sender === OPERATIONS_SENDER) {
      const row = UUID.test(operationId) ? await repo.findOperation(db, operationId) : undefined
      if (!row || row.sender !== OPERATIONS_SENDER || row.type !== type) return 'unknown_operation'
      return { operation: row, principal: row.principal }
    }
    if (!deps.senders.includes(sender)) return `unknown_sender: ${sender}`
    const principal: Principal = { kind: 'api_key', id: sender, userId: null, roles: ['service'] }
    const row = await repo.insertOperationOnce(db, {
      id: uuidv7(),
      sender,
      operationKey: operationId,
      type,
      ownerUserId: null,
      principal,
      request: { type, ...fields },
    })
    return { operation: row, principal }
  }

  async function answer(command: CommandEnvelope, outcome: OperationOutcome): Promise<void> {
    if (!command.replyTo) return
    if (!bus.reply) {
      logger.warn({ replyTo: command.replyTo }, 'a command asked for a reply but this bus cannot reply')
      return
    }
    await bus.reply(command.replyTo, command.correlationId, outcome)
  }

  async function apply(command: CommandEnvelope): Promise<CommandOutcome> {
    const type = COMMAND_TYPES[command.type as CommandType] as OperationType | undefined
    if (!type) return dead(`unknown_command_type: ${command.type}`)
    let body: unknown
    try {
      body = JSON.parse(command.body.toString('utf8'))
    } catch (error) {
      return dead(`invalid_json: ${(error as Error).message}`)
    }
    const check =
      type === 'transfer' ? checkTransfer : type === 'points_earn' ? checkPointsEarn : checkWorldMovement
    if (!check.Check(body)) {
      const issues = check
        .Errors(body)
        .slice(0, 5)
        .map((issue) => `${issue.instancePath || '/'} ${issue.message}`)
      return dead(`invalid_body: ${issues.join('; ')}`)
    }
    // A command holds to the bounds an HTTP body does (the HTTP edge checks them before its schema).
    const character = forbiddenCharacterIn(body, 'body')
    if (character) return dead(`forbidden_character: ${character.message}`)
    const limits = jsonLimitIssues((body as { metadata?: unknown }).metadata, METADATA_LIMITS, '/metadata')
    if (limits.length > 0) return dead(`limit_exceeded: ${limits.map((issue) => issue.message).join('; ')}`)
    if (!command.sender) return dead('unknown_sender: none')

    const resolved = await resolveOperation(command.sender, type, body)
    if (typeof resolved === 'string') return dead(resolved)
    const { operation, principal } = resolved
    // Coffer's own operation applies what it recorded when it was accepted, whatever the command says.
    const { operationId: _operationId, ...sent } = body
    const fields: Record<string, unknown> =
      command.sender === OPERATIONS_SENDER ? commandFields(operation.request as CreateOperationInput) : sent
    const claim: KeyClaim = {
      scope: `command:${command.sender}`,
      key: operation.operation_key,
      fingerprint: createHash('sha256')
        .update(canonicalJson({ type, ...fields }))
        .digest('base64url'),
    }
    const operationId = operation.operation_key

    const succeeded = (transactionId: string) =>
      outboxEvent('operation.succeeded', { type: 'operation', id: operation.id }, {
        operationId,
        type,
        status: 'succeeded',
        transactionId,
      } satisfies OperationOutcome)

    const build = async (): Promise<PostingRequest> => {
      let posting: PostingRequest
      try {
        posting =
          type === 'transfer'
            ? await wallets.transfer(principal, fields as TransferInput)
            : await wallets.worldMovement(
                principal,
                (fields as { walletId: string }).walletId,
                type as 'deposit' | 'withdrawal',
                fields as MovementInput,
              )
      } catch (error) {
        throw refusalIn(error, deps.refusalOf) ?? error
      }
      const postedEvents = posting.events
      return {
        ...posting,
        events: (posted) => [...(postedEvents?.(posted) ?? []), succeeded(posted.id)],
      }
    }

    let recorded: { status: number; body: string }
    try {
      recorded =
        type === 'points_earn'
          ? // Its own transaction, as POST /points/earn: the lot and the account's figures with the posting.
            await idempotency.run(claim, {
              work: async (trx) => {
                const earned = await points.earn(trx, fields as EarnInput)
                await repo.insertOperationEvent(trx, succeeded(earned.transactionId))
                return { status: 201, body: earned }
              },
              renderRefusal: commandProblem,
            })
          : await idempotency.postMovement(claim, {
              build,
              render: (posted) => wallets.transactionView(posted, principal),
              renderRefusal: commandProblem,
            })
    } catch (error) {
      if (error instanceof AppError && error.code === IdempotencyKeyReused.definition.code) {
        return dead('operation_id_reused: another command already used this operationId')
      }
      if (error instanceof AppError && error.code === IdempotencyKeyInFlight.definition.code) {
        return { kind: 'retry', reason: 'operation_in_flight' }
      }
      throw error
    }

    if (recorded.status < 300) {
      const result = JSON.parse(recorded.body) as { id?: string; transactionId?: string }
      const transactionId = (type === 'points_earn' ? result.transactionId : result.id)!
      // Again on a redelivery, so a crash between the posting's commit and this update heals.
      await repo.finishOperation(db, operation.id, {
        status: 'succeeded',
        transactionId,
        result: recorded.body,
      })
      await answer(command, { operationId, type, status: 'succeeded', transactionId })
      return { kind: 'done' }
    }
    const problem = JSON.parse(recorded.body) as Record<string, unknown>
    const failed: OperationOutcome = { operationId, type, status: 'failed', problem }
    await db.transaction().execute(async (trx) => {
      const finished = await repo.finishOperation(trx, operation.id, {
        status: 'failed',
        transactionId: null,
        result: recorded.body,
      })
      if (finished) {
        await repo.insertOperationEvent(
          trx,
          outboxEvent('operation.failed', { type: 'operation', id: operation.id }, { ...failed }),
        )
      }
    })
    await answer(command, failed)
    return dead(String(problem.code ?? 'refused'))
  }

  return async (command) => {
    try {
      return await apply(command)
    } catch (error) {
      if (isTransient(error)) {
        logger.warn({ err: error, type: command.type, attempt: command.attempt }, 'command will be retried')
        return { kind: 'retry', reason: (error as Error).message || 'transient failure' }
      }
      logger.error({ err: error, type: command.type }, 'command failed unexpectedly')
      throw error
    }
  }
}
