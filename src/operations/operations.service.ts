import type { Logger } from 'pino'
import { uuidv7 } from 'uuidv7'
import { hasRole, type Principal } from '../auth/principal.js'
import type { Db } from '../db/database.js'
import { AppError } from '../errors.js'
import type { EventBus } from '../events/bus.js'
import type { IdempotentWriter, RenderRefusal } from '../ledger/group-commit.js'
import { IdempotencyKeyInFlight } from '../ledger/idempotency.errors.js'
import { type KeyClaim, type RecordedAnswer, storedAnswer } from '../ledger/idempotency-keys.js'
import { InsufficientFunds } from '../ledger/ledger.errors.js'
import type { WalletsService } from '../wallets/wallets.service.js'
import { CommandDispatchFailed, OperationNotFound } from './operations.errors.js'
import * as repo from './operations.repository.js'
import type { CreateOperationInput, OperationView } from './operations.schemas.js'
import type { StoredPrincipal } from './operations.tables.js'

/** The sender of the commands Coffer sends itself for POST /api/v1/operations. */
export const OPERATIONS_SENDER = 'coffer'

/** An operation still accepted this long after its last send is sent again (the worker's job). */
export const REDISPATCH_AFTER_MS = 60_000
const REDISPATCH_FOR_MS = 24 * 3_600_000
const REDISPATCH_BATCH = 100

/** Maps an error that is not an AppError but is the caller's fault (the money module's) to its refusal. */
export type RefusalOf = (error: unknown) => AppError | null

export interface OperationsDeps {
  db: Db
  wallets: WalletsService
  idempotency: IdempotentWriter
  bus: EventBus
  logger: Logger
  refusalOf: RefusalOf
}

/** A refusal the caller should see (a 4xx of the business rules or of its input), or null. */
export function refusalIn(error: unknown, refusalOf: RefusalOf): AppError | null {
  if (error instanceof AppError) return error.status < 500 ? error : null
  return refusalOf(error)
}

export function storedPrincipal(principal: Principal): StoredPrincipal {
  return { kind: principal.kind, id: principal.id, userId: principal.userId, roles: [...principal.roles] }
}

/** The request of an operation without its type, as the synchronous route takes it. */
export function commandFields(input: CreateOperationInput): Record<string, unknown> {
  const { type: _type, ...fields } = input
  return fields
}

/**
 * The asynchronous operations API (S3): an operation is recorded after cheap checks, answered 202,
 * and applied through the command path (src/operations/commands.ts) by whichever process consumes
 * `coffer.commands`: the bus decides, in-process or RabbitMQ.
 */
export class OperationsService {
  constructor(private readonly deps: OperationsDeps) {}

  /**
   * Records an operation under the caller's Idempotency-Key: a replay answers the first 202 (or
   * refusal) without checking again, since a checked balance may have moved by the operation itself.
   */
  async accept(
    principal: Principal,
    claim: KeyClaim,
    input: CreateOperationInput,
    renderRefusal: RenderRefusal,
  ): Promise<RecordedAnswer> {
    const recorded = await this.recordedAnswer(claim)
    if (recorded) return recorded
    let refusal: AppError | null = null
    try {
      await this.cheapChecks(principal, input)
    } catch (error) {
      refusal = refusalIn(error, this.deps.refusalOf)
      if (!refusal) throw error
    }
    const id = uuidv7()
    return this.deps.idempotency.run(claim, {
      work: async (trx) => {
        if (refusal) throw refusal
        await repo.insertOperation(trx, {
          id,
          sender: OPERATIONS_SENDER,
          operationKey: id,
          type: input.type,
          ownerUserId: principal.userId,
          principal: storedPrincipal(principal),
          request: input,
        })
        return { status: 202, body: { id, status: 'accepted' } }
      },
      renderRefusal,
    })
  }

  /**
   * Sends the command of an operation still accepted. Sent again on every replay of its POST, which
   * is harmless (the command is idempotent by its operation id) and sends one whose first send failed.
   */
  async dispatch(operationId: string): Promise<void> {
    const row = await repo.findOperation(this.deps.db, operationId)
    if (row?.status !== 'accepted') return
    const request = row.request as CreateOperationInput
    try {
      await this.deps.bus.sendCommand(
        `${row.type}.requested`,
        { operationId: row.id, ...commandFields(request) },
        { sender: OPERATIONS_SENDER, correlationId: row.id },
      )
    } catch (error) {
      this.deps.logger.warn({ err: error, operationId }, 'operation recorded but its command was not sent')
      throw new CommandDispatchFailed({ operationId })
    }
  }

  /**
   * Sends again the commands of operations still accepted a while after their last send: one whose
   * send failed (503 to a client that never retried), or whose command the broker dead-lettered
   * after its transient retries ran out. Up to a day old, so a command that can never apply stops.
   */
  async redispatchStale(now: Date = new Date()): Promise<number> {
    const ids = await repo.touchStaleAccepted(this.deps.db, OPERATIONS_SENDER, {
      now,
      staleBefore: new Date(now.getTime() - REDISPATCH_AFTER_MS),
      notBefore: new Date(now.getTime() - REDISPATCH_FOR_MS),
      limit: REDISPATCH_BATCH,
    })
    for (const id of ids) await this.dispatch(id)
    return ids.length
  }

  async get(principal: Principal, operationId: string): Promise<OperationView> {
    const row = await repo.findOperation(this.deps.db, operationId)
    const seesAll = hasRole(principal, 'admin', 'service')
    if (!row || (!seesAll && (row.owner_user_id === null || row.owner_user_id !== principal.userId))) {
      throw new OperationNotFound({ operationId })
    }
    const result = row.result as OperationView['transaction'] & OperationView['problem']
    const earned = row.type === 'points_earn'
    return {
      id: row.id,
      type: row.type,
      status: row.status,
      transaction: row.status === 'succeeded' && !earned ? result : null,
      ...(earned
        ? { points: row.status === 'succeeded' ? (row.result as OperationView['points']) : null }
        : {}),
      problem: row.status === 'failed' ? result : null,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    }
  }

  private async recordedAnswer(claim: KeyClaim): Promise<RecordedAnswer | null> {
    try {
      return await storedAnswer(this.deps.db, claim)
    } catch (error) {
      // No answer recorded: a first request (or one running, which run() then answers 409).
      if (error instanceof AppError && error.code === IdempotencyKeyInFlight.definition.code) return null
      throw error
    }
  }

  /**
   * What the synchronous route would refuse before posting (the wallet is the caller's, the
   * self-deposit policy, currency and amount syntax, the other party of a transfer), plus a source
   * wallet whose available balance is already short. Frozen wallets and races are the command's.
   */
  private async cheapChecks(principal: Principal, input: CreateOperationInput): Promise<void> {
    const { wallets } = this.deps
    const posting =
      input.type === 'transfer'
        ? await wallets.transfer(principal, input)
        : await wallets.worldMovement(principal, input.walletId, input.type, input)
    if (input.type === 'deposit') return
    const sourceId = input.type === 'transfer' ? input.fromWalletId : input.walletId
    const source = await wallets.visibleWallet(principal, sourceId)
    if (source.balance - source.pending < posting.amount) {
      throw new InsufficientFunds({
        walletId: sourceId,
        currency: source.currency,
        available: wallets.walletView(source).available,
        requested: input.amount,
      })
    }
  }
}
