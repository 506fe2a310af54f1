import { spawn } from 'node:child_process'
import { access, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { withClient } from './database.js'
import { exitCodeOf } from './server.js'

export const PGBENCH = process.env.PGBENCH ?? '/usr/bin/pgbench'

export type PgbenchMode = 'random' | 'hot' | 'batched'

/** Transfers per commit of the batched floor, as a bulk scenario batch carries. */
export const BATCHED_TRANSFERS = 100

export interface PgbenchFigure {
  mode: PgbenchMode
  tps: number
  /** Transfers each pgbench transaction makes: tps × this is transfers/s. */
  transfersPerCommit: number
  latencyAverageMs: number | null
  transactions: number
  failed: number
  clients: number
  seconds: number
}

export async function pgbenchAvailable(): Promise<boolean> {
  try {
    await access(PGBENCH)
    return true
  } catch {
    return false
  }
}

/**
 * Wallets for pgbench in a database migrated with Coffer's own schema (same tables, indexes and
 * triggers). Wallet n has a UUID derived from n, so the script can name it from a pgbench
 * variable; transaction ids are UUIDv7 made in SQL, time-ordered like the engine's.
 */
export async function preparePgbenchDatabase(url: string, wallets: number): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(`
      create function bench_wallet(n bigint) returns uuid immutable language sql
      as $$ select ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$
    `)
    await client.query(`
      create function bench_uuidv7() returns uuid volatile language sql
      as $$
        select encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
          substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6),
          52, 1), 53, 1), 'hex')::uuid
      $$
    `)
    await client.query(
      `insert into accounts (id, kind, user_id, currency, balance, floor)
       select bench_wallet(n), 'wallet', gen_random_uuid(), 'USD', 1000000, 0 from generate_series(1, $1::int) as n`,
      [wallets],
    )
    await client.query('vacuum (analyze)')
  })
}

/**
 * What one Coffer transfer does in SQL, one statement per round trip: lock both wallet rows in
 * id order, update both balances (their new values become the entries' balance_after), insert
 * the transaction and its two entries, commit. `hot` credits wallet 1 every time.
 */
function transferScript(mode: 'random' | 'hot' | 'batched'): string {
  if (mode === 'batched') return batchedScript(BATCHED_TRANSFERS)
  const pair =
    mode === 'random'
      ? [
          '\\set from random(1, :wallets)',
          '\\set to random(1, :wallets - 1)',
          '\\set to (case when :to >= :from then :to + 1 else :to end)',
        ]
      : ['\\set from random(2, :wallets)', '\\set to 1']
  return [
    ...pair,
    '\\set amount random(1, 100)',
    '\\set debit -1 * :amount',
    'BEGIN;',
    'SELECT id, balance, pending, floor, status FROM accounts WHERE id IN (bench_wallet(:from), bench_wallet(:to)) ORDER BY id FOR UPDATE;',
    'UPDATE accounts SET balance = balance + :debit, updated_at = statement_timestamp() WHERE id = bench_wallet(:from) RETURNING balance AS from_balance \\gset',
    'UPDATE accounts SET balance = balance + :amount, updated_at = statement_timestamp() WHERE id = bench_wallet(:to) RETURNING balance AS to_balance \\gset',
    "INSERT INTO transactions (id, type, currency, amount, created_at) VALUES (bench_uuidv7(), 'transfer', 'USD', :amount, statement_timestamp()) RETURNING id AS tx \\gset",
    "INSERT INTO entries (transaction_id, account_id, currency, amount, balance_after, created_at) VALUES (:tx, bench_wallet(:from), 'USD', :debit, :from_balance, statement_timestamp()), (:tx, bench_wallet(:to), 'USD', :amount, :to_balance, statement_timestamp());",
    'END;',
    '',
  ].join('\n')
}

/**
 * The batched floor: the same statements as a random transfer, `count` transfers in one commit.
 * All the pairs are locked first, in one statement in id order, as a batch locks its wallets:
 * locking pair by pair, 64 clients holding up to 200 rows each deadlock within seconds.
 */
function batchedScript(count: number): string {
  // pgbench 15 crashes (realloc(): invalid next size) when \gset creates a variable while
  // hundreds exist: the three it sets are made first, so \gset only overwrites them.
  const lines: string[] = ['\\set from_balance 0', '\\set to_balance 0', '\\set tx 0']
  for (let i = 0; i < count; i += 1) {
    lines.push(
      `\\set from${i} random(1, :wallets)`,
      `\\set to${i} random(1, :wallets - 1)`,
      `\\set to${i} (case when :to${i} >= :from${i} then :to${i} + 1 else :to${i} end)`,
      `\\set amount${i} random(1, 100)`,
      `\\set debit${i} -1 * :amount${i}`,
    )
  }
  const ids = Array.from({ length: count }, (_, i) => `bench_wallet(:from${i}), bench_wallet(:to${i})`)
  lines.push(
    'BEGIN;',
    `SELECT id, balance, pending, floor, status FROM accounts WHERE id IN (${ids.join(', ')}) ORDER BY id FOR UPDATE;`,
  )
  for (let i = 0; i < count; i += 1) {
    lines.push(
      `UPDATE accounts SET balance = balance + :debit${i}, updated_at = statement_timestamp() WHERE id = bench_wallet(:from${i}) RETURNING balance AS from_balance \\gset`,
      `UPDATE accounts SET balance = balance + :amount${i}, updated_at = statement_timestamp() WHERE id = bench_wallet(:to${i}) RETURNING balance AS to_balance \\gset`,
      `INSERT INTO transactions (id, type, currency, amount, created_at) VALUES (bench_uuidv7(), 'transfer', 'USD', :amount${i}, statement_timestamp()) RETURNING id AS tx \\gset`,
      `INSERT INTO entries (transaction_id, account_id, currency, amount, balance_after, created_at) VALUES (:tx, bench_wallet(:from${i}), 'USD', :debit${i}, :from_balance, statement_timestamp()), (:tx, bench_wallet(:to${i}), 'USD', :amount${i}, :to_balance, statement_timestamp());`,
    )
  }
  lines.push('END;', '')
  return lines.join('\n')
}

export async function runPgbench(options: {
  url: string
  mode: PgbenchMode
  clients: number
  seconds: number
  wallets: number
  scriptDir: string
  signal?: AbortSignal
}): Promise<PgbenchFigure> {
  const script = path.join(options.scriptDir, `pgbench-${options.mode}.sql`)
  await writeFile(script, transferScript(options.mode))
  const args = [
    '--no-vacuum',
    '--protocol=prepared',
    `--client=${options.clients}`,
    `--jobs=${Math.min(2, options.clients)}`,
    `--time=${options.seconds}`,
    `--define=wallets=${options.wallets}`,
    `--file=${script}`,
    options.url,
  ]
  const child = spawn(PGBENCH, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.signal ? { signal: options.signal } : {}),
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const code = await exitCodeOf(child)
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1]
  if (code !== 0 || tps === undefined)
    throw new Error(`pgbench ${options.mode} failed (exit ${code}):\n${output}`)
  return {
    mode: options.mode,
    tps: Number(tps),
    transfersPerCommit: options.mode === 'batched' ? BATCHED_TRANSFERS : 1,
    latencyAverageMs: numberAfter(output, /latency average = ([\d.]+) ms/),
    transactions: numberAfter(output, /number of transactions actually processed: (\d+)/) ?? 0,
    failed: numberAfter(output, /number of failed transactions: (\d+)/) ?? 0,
    clients: options.clients,
    seconds: options.seconds,
  }
}

function numberAfter(text: string, pattern: RegExp): number | null {
  const match = pattern.exec(text)?.[1]
  return match === undefined ? null : Number(match)
}
