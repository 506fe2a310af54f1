import type { Principal } from '../auth/principal.js'
import { AppError } from '../errors.js'
import type { BatchMovement, IdempotentWriter, RenderRefusal } from '../ledger/group-commit.js'
import type { KeyClaim, RecordedAnswer } from '../ledger/idempotency-keys.js'
import type { PaymentsService } from '../payments/payments.service.js'
import type { WalletsService } from '../wallets/wallets.service.js'
import { AtomicBatchRefused, BatchItemNotApplied, DuplicateBatchKeys } from './batches.errors.js'
import type { BatchInput, BatchItemInput } from './batches.schemas.js'

export interface BatchAnswer {
  /** Always 200 (each item has its own status); an atomic batch refused is thrown, 422. */
  replayed: boolean
  /** The JSON text of the answer, built from the items' stored bodies without parsing them. */
  body: string
}

/** The fields of an item that make the body of the single request it stands for. */
export function singleRequestOf(item: BatchItemInput): { url: string; params: object; body: object } {
  const { type, idempotencyKey: _key, ...rest } = item
  if (type === 'deposit' || type === 'withdrawal') {
    const { walletId, ...body } = rest as Extract<BatchItemInput, { type: 'deposit' }>
    return { url: `/api/v1/wallets/:id/${type}s`, params: { id: walletId }, body }
  }
  return { url: type === 'transfer' ? '/api/v1/transfers' : '/api/v1/purchases', params: {}, body: rest }
}

/**
 * POST /batches: up to 1,000 movements, each under its own key and as its own route would post
 * it (same checks, events, answers). Independent items go through group commit like single
 * requests; atomic and dry-run batches post in one transaction of their own.
 */
export class BatchesService {
  constructor(
    private readonly deps: {
      wallets: WalletsService
      payments: PaymentsService
      idempotency: IdempotentWriter
    },
  ) {}

  async post(
    principal: Principal,
    input: BatchInput,
    claims: KeyClaim[],
    renderRefusal: RenderRefusal,
  ): Promise<BatchAnswer> {
    const keys = input.items.map((item) => item.idempotencyKey)
    const seen = new Set<string>()
    const repeated = new Set<string>()
    for (const key of keys) {
      if (seen.has(key)) repeated.add(key)
      seen.add(key)
    }
    if (repeated.size > 0) throw new DuplicateBatchKeys({ keys: [...repeated] })
    const atomic = input.atomic ?? false
    const dryRun = input.dryRun ?? false
    const movements = await Promise.all(
      input.items.map((item, i) => this.movementOf(principal, item, claims[i]!, renderRefusal)),
    )
    if (!atomic && !dryRun) {
      const answers = await this.postEach(movements)
      return answerOf(keys, answers, { atomic, dryRun })
    }
    const outcome = await this.deps.idempotency.postAll(movements, { dryRun })
    if (outcome.kind === 'refused') {
      const { firstRefused, error } = outcome
      const items = outcome.answers.map((answer, i) => {
        const refused = answer.status >= 400
        return {
          idempotencyKey: keys[i]!,
          status: refused ? answer.status : BatchItemNotApplied.definition.status,
          replayed: false,
          result: refused
            ? JSON.parse(answer.body)
            : renderRefusal(new BatchItemNotApplied({ index: firstRefused })),
        }
      })
      throw new AtomicBatchRefused({
        index: firstRefused,
        key: keys[firstRefused]!,
        code: error.code,
        detail: error.detail,
        items,
      })
    }
    return answerOf(keys, outcome.answers, { atomic, dryRun })
  }

  /** Each item alone, all at once: group commit gathers them (and other callers') into batches. */
  /**
   * Each item alone, in the batch's order, in one transaction with their keys: a refusal is that
   * item's recorded answer and the others still apply (the engine's outcomes are per posting).
   */
  private async postEach(movements: BatchMovement[]): Promise<RecordedAnswer[]> {
    const outcome = await this.deps.idempotency.postAll(movements, { dryRun: false, atomic: false })
    return outcome.answers
  }

  private async movementOf(
    principal: Principal,
    item: BatchItemInput,
    claim: KeyClaim,
    renderRefusal: RenderRefusal,
  ): Promise<BatchMovement> {
    const { wallets, payments } = this.deps
    const render = (posted: Parameters<WalletsService['transactionView']>[0]) =>
      wallets.transactionView(posted, principal)
    const base = { claim, render, renderRefusal }
    switch (item.type) {
      case 'deposit':
      case 'withdrawal': {
        const { type, idempotencyKey: _key, walletId, ...body } = item
        return { ...base, build: () => wallets.worldMovement(principal, walletId, type, body) }
      }
      case 'transfer': {
        const { type: _type, idempotencyKey: _key, ...body } = item
        return { ...base, build: () => wallets.transfer(principal, body) }
      }
      case 'purchase': {
        const { type: _type, idempotencyKey: _key, ...body } = item
        // A purchase that earns points posts with them, in the batch's transaction (atomic) or
        // its own (independent), as POST /purchases does.
        const ownWork = await payments.purchaseNeedsTransaction(principal, body).catch((error: unknown) => {
          // Refused (no such wallet, ...): the plain path refuses it again, and records that.
          if (error instanceof AppError && error.status < 500) return false
          throw error
        })
        if (ownWork) {
          return { ...base, work: (trx) => payments.purchaseIn(trx, principal, body) }
        }
        return { ...base, build: () => payments.purchase(principal, body) }
      }
    }
  }
}

function answerOf(
  keys: string[],
  answers: RecordedAnswer[],
  flags: { atomic: boolean; dryRun: boolean },
): BatchAnswer {
  let succeeded = 0
  const items = answers.map((answer, i) => {
    if (answer.status < 400) succeeded += 1
    return `{"idempotencyKey":${JSON.stringify(keys[i])},"status":${answer.status},"replayed":${answer.replayed},"result":${answer.body}}`
  })
  const body = `{"atomic":${flags.atomic},"dryRun":${flags.dryRun},"succeeded":${succeeded},"failed":${answers.length - succeeded},"items":[${items.join(',')}]}`
  return { replayed: answers.length > 0 && answers.every((a) => a.replayed), body }
}
