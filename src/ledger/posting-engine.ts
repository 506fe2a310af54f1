import { sql } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { Trx } from '../db/database.js'
import type { AppError } from '../errors.js'
import { countPosted, countRefused } from '../metrics/ledger.js'
import { type CurrencyRegistry, formatAmount } from '../money/index.js'
import { claimExpiredHolds, settleHolds } from './holds.js'
import { type KeyAnswer, recordAnswers } from './idempotency-keys.js'
import {
  AmountTooLarge,
  CurrencyMismatch,
  InsufficientFunds,
  WalletClosed,
  WalletFrozen,
  WalletNotFound,
} from './ledger.errors.js'
import {
  type FormatAmount,
  type LockedWallet,
  NUMERIC_LIMIT,
  type PostedEntry,
  type PostedTransaction,
  type PostingOutcome,
  type PostingRequest,
} from './posting-types.js'
import { systemAccountId } from './system-accounts.js'
import type { WalletChanges } from './wallet-changes.js'

function walletIdsOf(request: PostingRequest): string[] {
  const ids = request.legs.flatMap((leg) => ('wallet' in leg.account ? [leg.account.wallet] : []))
  for (const change of request.pendingChanges ?? []) ids.push(change.walletId)
  return ids
}

function assertBalanced(request: PostingRequest): void {
  const sums = new Map<string, bigint>()
  for (const leg of request.legs) {
    if (leg.amount === 0n) throw new Error(`posting ${request.type} has a zero leg`)
    sums.set(leg.currency, (sums.get(leg.currency) ?? 0n) + leg.amount)
  }
  for (const [currency, sum] of sums) {
    if (sum !== 0n) throw new Error(`posting ${request.type} does not balance in ${currency}: ${sum}`)
  }
}

/**
 * Locks the wallets in ascending id order (every writer does, so two transfers in opposite
 * directions cannot deadlock) and returns their current state, and which of them have a pending
 * hold past its expiry that must be released before anything else is checked.
 */
async function lockWallets(
  trx: Trx,
  walletIds: string[],
): Promise<{ wallets: Map<string, LockedWallet>; withExpiredHolds: string[] }> {
  const ids = [...new Set(walletIds)].sort()
  const wallets = new Map<string, LockedWallet>()
  const withExpiredHolds: string[] = []
  if (ids.length === 0) return { wallets, withExpiredHolds }
  const { rows } = await sql<{
    id: string
    user_id: string
    currency: string
    balance: bigint
    pending: bigint
    floor: bigint
    status: LockedWallet['status']
    version: bigint
    created_at: Date
    expired_holds: boolean
  }>`
    select a.id, a.user_id, a.currency, a.balance, a.pending, a.floor, a.status, a.version, a.created_at,
      a.pending > 0 and exists (
        select 1 from holds h
        where h.wallet_id = a.id and h.status = 'pending' and h.expires_at <= statement_timestamp()
      ) as expired_holds
    from accounts a where a.id = any(${ids}::uuid[]) and a.kind = 'wallet'
    order by a.id for update of a
  `.execute(trx)
  for (const row of rows) {
    wallets.set(row.id, {
      id: row.id,
      userId: row.user_id,
      currency: row.currency,
      balance: row.balance,
      pending: row.pending,
      floor: row.floor,
      status: row.status,
      version: row.version,
      createdAt: row.created_at,
    })
    if (row.expired_holds) withExpiredHolds.push(row.id)
  }
  return { wallets, withExpiredHolds }
}

/**
 * Applies one request to the in-memory wallet states, or says why it cannot be applied. The
 * states are only replaced when every check passed, so a refused request changes nothing.
 */
function applyToWallets(
  request: PostingRequest,
  wallets: Map<string, LockedWallet>,
  format: FormatAmount,
): { ok: true; next: Map<string, LockedWallet>; entries: PostedEntry[] } | { ok: false; error: AppError } {
  const next = new Map<string, LockedWallet>()
  const current = (id: string): LockedWallet | undefined => next.get(id) ?? wallets.get(id)
  const entries: PostedEntry[] = []
  const decreased = new Set<string>()

  const refused = request.authorize?.(wallets)
  if (refused) return { ok: false, error: refused }
  for (const walletId of walletIdsOf(request)) {
    const wallet = current(walletId)
    if (!wallet) return { ok: false, error: new WalletNotFound({ walletId }) }
    if (wallet.status === 'frozen' && !request.releaseOnly)
      return { ok: false, error: new WalletFrozen({ walletId }) }
    if (wallet.status === 'closed') return { ok: false, error: new WalletClosed({ walletId }) }
  }

  for (const leg of request.legs) {
    if (leg.amount >= NUMERIC_LIMIT || -leg.amount >= NUMERIC_LIMIT)
      return { ok: false, error: new AmountTooLarge() }
    if ('system' in leg.account) {
      entries.push({
        accountId: systemAccountId(leg.account.system),
        walletId: null,
        ownerUserId: null,
        systemName: leg.account.system.name,
        currency: leg.currency,
        amount: leg.amount,
        balanceAfter: null,
      })
      continue
    }
    const walletId = leg.account.wallet
    const wallet = current(walletId)!
    if (wallet.currency !== leg.currency) {
      return {
        ok: false,
        error: new CurrencyMismatch({ walletId, expected: wallet.currency, actual: leg.currency }),
      }
    }
    const balance = wallet.balance + leg.amount
    if (balance >= NUMERIC_LIMIT || -balance >= NUMERIC_LIMIT)
      return { ok: false, error: new AmountTooLarge() }
    if (leg.amount < 0n) decreased.add(walletId)
    next.set(walletId, { ...wallet, balance })
    entries.push({
      accountId: walletId,
      walletId,
      ownerUserId: wallet.userId,
      systemName: null,
      currency: leg.currency,
      amount: leg.amount,
      balanceAfter: balance,
    })
  }

  for (const change of request.pendingChanges ?? []) {
    const wallet = current(change.walletId)!
    const pending = wallet.pending + change.delta
    if (pending < 0n) throw new Error(`pending of wallet ${change.walletId} would go below zero`)
    if (change.delta > 0n) decreased.add(change.walletId)
    next.set(change.walletId, { ...wallet, pending })
  }

  // Only a wallet whose available amount went down is held to its floor: a deposit into (or a
  // capture that releases part of a hold on) a wallet a forced reversal left below zero must
  // still go through.
  for (const walletId of decreased) {
    if (request.overdraftAllowed?.includes(walletId)) continue
    const before = wallets.get(walletId)!
    const after = current(walletId)!
    const available = after.balance - after.pending
    if (available < after.floor && available < before.balance - before.pending) {
      const requested = before.balance - before.pending - available
      return {
        ok: false,
        error: new InsufficientFunds({
          walletId,
          currency: after.currency,
          available: format(before.balance - before.pending, after.currency),
          requested: format(requested, after.currency),
        }),
      }
    }
  }
  return { ok: true, next, entries }
}

/**
 * The only code that changes balances. Posts a batch of requests in the caller's database
 * transaction: one lock statement for every wallet involved, one write statement for every
 * row. Each request succeeds or fails on its own; a failed one leaves no trace. Group commit
 * (group-commit.ts) hands it the movements of concurrent callers as one batch.
 *
 * System accounts are never locked or updated here: their movements go to
 * system_balance_deltas, which the worker folds into their balance.
 */
export class PostingEngine {
  private readonly format: FormatAmount

  constructor(
    currencies: CurrencyRegistry,
    /** Told every wallet state a posting writes; posting transactions are opened through it. */
    readonly changes: WalletChanges,
  ) {
    this.format = (minor, code) => formatAmount(minor, currencies.require(code))
  }

  async post(trx: Trx, requested: PostingRequest[]): Promise<PostingOutcome[]> {
    return (await this.postLocking(trx, requested, [])).outcomes
  }

  /**
   * Posts and records the idempotency answers `answersOf` renders from the outcomes, in the same
   * statement as the postings (one round trip fewer per batch). Bodies are rendered before the
   * batch's instant is known: a transaction's createdAt is PENDING_CREATED_AT until the write,
   * which puts the real instant into the stored bodies, and `createdAtOf` into the returned ones.
   * `recorded` is false when a key already had an answer (another process recorded it meanwhile).
   */
  async postRecording(
    trx: Trx,
    requested: PostingRequest[],
    answersOf: (outcomes: PostingOutcome[]) => KeyAnswer[],
  ): Promise<{ outcomes: PostingOutcome[]; answers: KeyAnswer[]; recorded: boolean }> {
    const result = await this.postLocking(trx, requested, [], answersOf)
    return { outcomes: result.outcomes, answers: result.answers, recorded: result.recorded }
  }

  /** Releases every overdue hold of these wallets; the worker calls it for wallets nobody touches. */
  async releaseExpiredHolds(trx: Trx, walletIds: string[]): Promise<number> {
    return (await this.postLocking(trx, [], walletIds)).released
  }

  private async postLocking(
    trx: Trx,
    requested: PostingRequest[],
    alsoLock: string[],
    answersOf?: (outcomes: PostingOutcome[]) => KeyAnswer[],
  ): Promise<{ outcomes: PostingOutcome[]; released: number; answers: KeyAnswer[]; recorded: boolean }> {
    for (const request of requested) assertBalanced(request)
    const locked = await lockWallets(trx, [...requested.flatMap(walletIdsOf), ...alsoLock])
    // Replaced state by state as requests are accepted (in place: a batch of many requests must
    // not copy every wallet's state once per request).
    const wallets = locked.wallets
    // Lazy expiry: an overdue hold is released before the wallet is checked, so money that is
    // no longer reserved never causes an insufficient_funds.
    const releases =
      locked.withExpiredHolds.length > 0
        ? await claimExpiredHolds(trx, locked.withExpiredHolds, this.format)
        : []
    const requests = [...releases.map((r) => r.request), ...requested]
    const outcomes: PostingOutcome[] = []
    const accepted: { request: PostingRequest; posted: PostedTransaction }[] = []
    const touched = new Set<string>()

    for (const request of requests) {
      const applied = applyToWallets(request, wallets, this.format)
      if (!applied.ok) {
        outcomes.push(applied)
        continue
      }
      for (const [id, state] of applied.next) wallets.set(id, state)
      for (const id of applied.next.keys()) touched.add(id)
      const posted: PostedTransaction = {
        id: request.id ?? uuidv7(),
        type: request.type,
        status: 'posted',
        currency: request.currency,
        amount: request.amount,
        reference: request.reference ?? null,
        description: request.description ?? null,
        metadata: request.metadata ?? null,
        reversesId: request.reversesId ?? null,
        flags: request.flags ?? [],
        createdAt: PENDING_CREATED_AT,
        entries: applied.entries,
      }
      accepted.push({ request, posted })
      outcomes.push({ ok: true, posted })
    }
    const failedRelease = outcomes.slice(0, releases.length).find((o) => !o.ok)
    if (failedRelease && !failedRelease.ok)
      throw new Error(`releasing an expired hold failed: ${failedRelease.error.code}`)
    const ownOutcomes = outcomes.slice(releases.length)
    const answers = answersOf ? answersOf(ownOutcomes) : []
    if (accepted.length === 0) {
      const recorded = answers.length === 0 || (await recordAnswers(trx, answers))
      countOutcomes(requests, outcomes)
      return { outcomes: ownOutcomes, released: 0, answers, recorded }
    }

    const written = [...touched].map((id) => wallets.get(id)!)
    const { createdAt, answersRecorded } = await writePostings(trx, accepted, written, answers)
    for (const { posted } of accepted) posted.createdAt = createdAt
    if (answers.length > 0) {
      const pending = createdAtMember(PENDING_CREATED_AT)
      const actual = createdAtMember(createdAt)
      for (const answer of answers) answer.body = answer.body.replaceAll(pending, actual)
    }
    this.changes.record(
      trx,
      written.map((w) => ({
        id: w.id,
        userId: w.userId,
        currency: w.currency,
        balance: w.balance,
        pending: w.pending,
        status: w.status,
        version: w.version + 1n,
        createdAt: w.createdAt,
        updatedAt: createdAt,
      })),
    )
    if (releases.length > 0) await settleHolds(trx, releases, 'expired')
    countOutcomes(requests, outcomes)
    return {
      outcomes: ownOutcomes,
      released: releases.length,
      answers,
      recorded: answersRecorded === answers.length,
    }
  }

  /** Posts one request; a refused request throws its error. */
  async postOne(trx: Trx, request: PostingRequest): Promise<PostedTransaction> {
    const [outcome] = await this.post(trx, [request])
    if (!outcome!.ok) throw outcome!.error
    return outcome!.posted
  }
}

/** The metrics of the engine's decisions, once they are written (src/metrics/ledger.ts). */
function countOutcomes(requests: PostingRequest[], outcomes: PostingOutcome[]): void {
  for (let i = 0; i < outcomes.length; i += 1) {
    const outcome = outcomes[i]!
    if (outcome.ok) countPosted(requests[i]!.type)
    else countRefused(requests[i]!.type, outcome.error.code)
  }
}

async function writePostings(
  trx: Trx,
  accepted: { request: PostingRequest; posted: PostedTransaction }[],
  walletStates: LockedWallet[],
  answers: KeyAnswer[],
): Promise<{ createdAt: Date; answersRecorded: number }> {
  const systemAccounts = new Map<string, { name: string; currency: string }>()
  const tx = { id: [] as string[], type: [] as string[], currency: [] as string[], amount: [] as string[] }
  const txText = { reference: [] as (string | null)[], description: [] as (string | null)[] }
  const txMeta = {
    metadata: [] as (string | null)[],
    reverses: [] as (string | null)[],
    flags: [] as string[],
  }
  const entry = {
    tx: [] as string[],
    account: [] as string[],
    currency: [] as string[],
    amount: [] as string[],
    balanceAfter: [] as (string | null)[],
  }
  const delta = { account: [] as string[], amount: [] as string[] }
  const event = {
    id: [] as string[],
    type: [] as string[],
    aggregateType: [] as string[],
    aggregateId: [] as string[],
    payload: [] as string[],
  }

  for (const { request, posted } of accepted) {
    tx.id.push(posted.id)
    tx.type.push(posted.type)
    tx.currency.push(posted.currency)
    tx.amount.push(posted.amount.toString())
    txText.reference.push(posted.reference)
    txText.description.push(posted.description)
    txMeta.metadata.push(posted.metadata === null ? null : JSON.stringify(posted.metadata))
    txMeta.reverses.push(posted.reversesId)
    txMeta.flags.push(posted.flags.join(','))
    for (const e of posted.entries) {
      entry.tx.push(posted.id)
      entry.account.push(e.accountId)
      entry.currency.push(e.currency)
      entry.amount.push(e.amount.toString())
      entry.balanceAfter.push(e.balanceAfter === null ? null : e.balanceAfter.toString())
      if (e.systemName !== null) {
        systemAccounts.set(e.accountId, { name: e.systemName, currency: e.currency })
        delta.account.push(e.accountId)
        delta.amount.push(e.amount.toString())
      }
    }
    for (const ev of request.events?.(posted) ?? []) {
      event.id.push(ev.id)
      event.type.push(ev.type)
      event.aggregateType.push(ev.aggregateType)
      event.aggregateId.push(ev.aggregateId)
      event.payload.push(JSON.stringify(ev.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)))
    }
  }
  const system = {
    id: [...systemAccounts.keys()],
    name: [...systemAccounts.values()].map((s) => s.name),
    currency: [...systemAccounts.values()].map((s) => s.currency),
  }
  const wallet = {
    id: walletStates.map((w) => w.id),
    balance: walletStates.map((w) => w.balance.toString()),
    pending: walletStates.map((w) => w.pending.toString()),
    // From the locked row, so the version written is the one the balance cache is told.
    version: walletStates.map((w) => (w.version + 1n).toString()),
  }

  // One statement writes everything: fewer round trips inside the lock window is what lets
  // concurrent writers of the same wallet go faster. Arrays keep its text the same for any
  // batch size, so PostgreSQL can reuse its plan.
  const key = {
    scope: answers.map((a) => a.scope),
    key: answers.map((a) => a.key),
    fingerprint: answers.map((a) => a.fingerprint),
    status: answers.map((a) => a.status),
    body: answers.map((a) => a.body),
  }
  const pendingMember = createdAtMember(PENDING_CREATED_AT)

  const { rows } = await sql<{ created_at: Date; answers_recorded: number }>`
    with clock as materialized (
      -- One instant for every row and event of the batch. The statement starts after the wallet
      -- locks were granted, so per wallet it never goes backwards; it is kept to the millisecond
      -- the API shows, so balance?at=<createdAt> includes the transaction it names.
      select date_trunc('milliseconds', statement_timestamp()) as at
    ), new_system_accounts as (
      insert into accounts (id, kind, name, currency)
      select id, 'system', name, currency
      from unnest(${system.id}::uuid[], ${system.name}::text[], ${system.currency}::text[]) as s(id, name, currency)
      on conflict do nothing
    ), new_transactions as (
      insert into transactions (id, type, currency, amount, reference, description, metadata, reverses_id, flags, created_at)
      select id, type, currency, amount, reference, description, metadata, reverses_id,
        case when flags = '' then '{}'::text[] else string_to_array(flags, ',') end, (select at from clock)
      from unnest(
        ${tx.id}::uuid[], ${tx.type}::text[], ${tx.currency}::text[], ${tx.amount}::numeric[],
        ${txText.reference}::text[], ${txText.description}::text[], ${txMeta.metadata}::jsonb[],
        ${txMeta.reverses}::uuid[], ${txMeta.flags}::text[]
      ) as t(id, type, currency, amount, reference, description, metadata, reverses_id, flags)
    ), new_entries as (
      insert into entries (transaction_id, account_id, currency, amount, balance_after, created_at)
      select transaction_id, account_id, currency, amount, balance_after, (select at from clock)
      from unnest(
        ${entry.tx}::uuid[], ${entry.account}::uuid[], ${entry.currency}::text[], ${entry.amount}::numeric[],
        ${entry.balanceAfter}::numeric[]
      ) with ordinality as e(transaction_id, account_id, currency, amount, balance_after, position)
      order by position
    ), new_deltas as (
      insert into system_balance_deltas (account_id, amount)
      select account_id, amount from unnest(${delta.account}::uuid[], ${delta.amount}::numeric[]) as d(account_id, amount)
    ), wallet_updates as (
      update accounts a set balance = w.balance, pending = w.pending, version = w.version,
        updated_at = (select at from clock)
      from unnest(
        ${wallet.id}::uuid[], ${wallet.balance}::numeric[], ${wallet.pending}::numeric[], ${wallet.version}::bigint[]
      ) as w(id, balance, pending, version)
      where a.id = w.id
    ), new_events as (
      insert into outbox (id, type, aggregate_type, aggregate_id, payload, created_at)
      -- Events are built before the instant is known: a createdAt member gets it here, and the
      -- row's created_at (the event's occurredAt) is the same instant.
      select id, type, aggregate_type, aggregate_id,
        case when payload ? 'createdAt' then jsonb_set(payload, '{createdAt}',
          to_jsonb(to_char((select at from clock) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
        else payload end,
        (select at from clock)
      from unnest(
        ${event.id}::uuid[], ${event.type}::text[], ${event.aggregateType}::text[], ${event.aggregateId}::text[],
        ${event.payload}::jsonb[]
      ) with ordinality as o(id, type, aggregate_type, aggregate_id, payload, position)
      -- The outbox seq (the relay's publishing order) follows the batch's posting order.
      order by position
    ), new_answers as (
      -- The idempotency answers of the batch, rendered before the instant was known.
      insert into idempotency_keys (scope, key, fingerprint, status_code, response_body)
      select scope, key, fingerprint, status_code,
        replace(body, ${pendingMember}, '"createdAt":"' ||
          to_char((select at from clock) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"')
      from unnest(${key.scope}::text[], ${key.key}::text[], ${key.fingerprint}::text[], ${key.status}::int[],
        ${key.body}::text[]) as k(scope, key, fingerprint, status_code, body)
      on conflict do nothing
      returning 1
    )
    select at as created_at, (select count(*) from new_answers)::int as answers_recorded from clock
  `.execute(trx)
  return { createdAt: rows[0]!.created_at, answersRecorded: Number(rows[0]!.answers_recorded) }
}

/**
 * The createdAt of a posting until the batch's write gives it the database's instant: a date no
 * real transaction has, so its JSON member in a rendered body can be found and replaced.
 */
export const PENDING_CREATED_AT = new Date('0001-01-01T00:00:00.007Z')

function createdAtMember(at: Date): string {
  return `"createdAt":${JSON.stringify(at.toISOString())}`
}
