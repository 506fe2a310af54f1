import { CofferProblemError } from '@coffer/client'
import {
  Alert,
  Anchor,
  Button,
  Paper,
  SegmentedControl,
  Select,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { type FormEvent, useMemo, useRef, useState } from 'react'
import { coffer, isNetworkFailure, must, newIdempotencyKey } from '../api'
import { Amount, Empty, PageLoader, ProblemAlert } from '../components'
import { useCurrencies } from '../currencies'
import { useResource } from '../hooks'
import { checkAmountInput, formatAmount } from '../money'
import { Link, navigate, useLocation } from '../router'
import { useSignedIn } from '../session'
import type { Transaction, Wallet } from '../types'
import { usePageTitle } from '../usePageTitle'
import { loadMyWallets } from './WalletsPage'

export type MovementKind = 'deposit' | 'withdrawal' | 'transfer'

const KINDS: { value: MovementKind; label: string; submit: string; done: string }[] = [
  { value: 'deposit', label: 'Deposit', submit: 'Deposit', done: 'Deposit recorded' },
  { value: 'withdrawal', label: 'Withdraw', submit: 'Withdraw', done: 'Withdrawal recorded' },
  { value: 'transfer', label: 'Transfer', submit: 'Send transfer', done: 'Transfer sent' },
]

function kindOf(value: string | null): MovementKind {
  return value === 'withdrawal' || value === 'transfer' ? value : 'deposit'
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

interface Outcome {
  kind: MovementKind
  transaction: Transaction
}

/**
 * One Idempotency-Key per submission. The key is kept only when the last attempt of these exact
 * values never got an answer (the network failed): sending again then replays the first posting
 * instead of making a second. Any answer, or any change to the form, starts a new key.
 */
function useSubmissionKey() {
  const pending = useRef<{ fingerprint: string; key: string } | null>(null)
  return {
    keyFor(fingerprint: string): string {
      if (pending.current?.fingerprint === fingerprint) return pending.current.key
      const key = newIdempotencyKey()
      pending.current = { fingerprint, key }
      return key
    },
    answered() {
      pending.current = null
    },
  }
}

function post(
  kind: MovementKind,
  wallet: Wallet,
  amount: string,
  destination: string,
  description: string,
  key: string,
) {
  const optional = description ? { description } : {}
  if (kind === 'transfer') {
    return must(
      coffer.POST('/api/v1/transfers', {
        body: { fromWalletId: wallet.id, toWalletId: destination, amount, ...optional },
        idempotencyKey: key,
      }),
    )
  }
  const path = kind === 'deposit' ? '/api/v1/wallets/{id}/deposits' : '/api/v1/wallets/{id}/withdrawals'
  return must(
    coffer.POST(path, {
      params: { path: { id: wallet.id } },
      body: { amount, ...optional },
      idempotencyKey: key,
    }),
  )
}

function walletLabel(wallet: Wallet, decimalsOf: (code: string) => number, myUserId: string | null): string {
  const available = formatAmount(wallet.available, decimalsOf(wallet.currency))
  const status = wallet.status === 'active' ? '' : ` (${wallet.status})`
  const owner = myUserId !== null && wallet.userId !== myUserId ? ' · another user’s' : ''
  return `${wallet.currency} wallet · ${available} available${status}${owner}`
}

function MoveForm({ wallets, onMoved }: { wallets: Wallet[]; onMoved: () => void }) {
  const { query } = useLocation()
  const { decimalsOf } = useCurrencies()
  const { me } = useSignedIn()
  const kind = kindOf(query.get('kind'))
  const spec = KINDS.find((entry) => entry.value === kind) ?? KINDS[0]!
  const usable = useMemo(() => wallets.filter((wallet) => wallet.status !== 'closed'), [wallets])

  const [walletId, setWalletId] = useState<string | null>(() => {
    const asked = query.get('wallet')
    return usable.find((wallet) => wallet.id === asked)?.id ?? usable[0]?.id ?? null
  })
  const [amount, setAmount] = useState('')
  const [destination, setDestination] = useState('')
  const [description, setDescription] = useState('')
  const [amountError, setAmountError] = useState<string>()
  const [walletError, setWalletError] = useState<string>()
  const [destinationError, setDestinationError] = useState<string>()
  const [posting, setPosting] = useState(false)
  const [problem, setProblem] = useState<unknown>()
  const [outcome, setOutcome] = useState<Outcome>()
  // The button is disabled from the first click, but React renders it disabled a moment later:
  // the ref closes that gap, so a double click never reaches the network twice.
  const inFlight = useRef(false)
  const submission = useSubmissionKey()

  const wallet = usable.find((candidate) => candidate.id === walletId)

  // Switching tabs keeps the wallet and the amount, and clears what was said about the previous form.
  function switchKind(next: string) {
    setProblem(undefined)
    setOutcome(undefined)
    setAmountError(undefined)
    setDestinationError(undefined)
    const params = new URLSearchParams({ kind: next })
    if (walletId) params.set('wallet', walletId)
    navigate(`/move?${params}`, { replace: true })
  }

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (inFlight.current) return
    setProblem(undefined)
    setOutcome(undefined)

    let valid = true
    if (!wallet) {
      setWalletError('Choose a wallet')
      valid = false
    }
    const checked = wallet
      ? checkAmountInput(amount, decimalsOf(wallet.currency), wallet.currency)
      : undefined
    if (checked && !checked.ok) {
      setAmountError(checked.message)
      valid = false
    }
    const toWallet = destination.trim()
    if (kind === 'transfer') {
      if (!UUID.test(toWallet)) {
        setDestinationError('Paste the destination wallet ID (it is shown on that wallet’s page)')
        valid = false
      } else if (toWallet.toLowerCase() === wallet?.id) {
        setDestinationError('Choose a wallet other than the one you send from')
        valid = false
      }
    }
    if (!valid || !wallet || !checked?.ok) return

    const trimmedDescription = description.trim()
    const fingerprint = JSON.stringify([kind, wallet.id, checked.amount, toWallet, trimmedDescription])
    const key = submission.keyFor(fingerprint)
    inFlight.current = true
    setPosting(true)
    try {
      const transaction = await post(kind, wallet, checked.amount, toWallet, trimmedDescription, key)
      submission.answered()
      setOutcome({ kind, transaction })
      setAmount('')
      setDescription('')
      onMoved()
    } catch (error) {
      // A refusal is an answer; a network failure is not, and keeps the key for a resend.
      if (!isNetworkFailure(error)) submission.answered()
      setProblem(error)
    } finally {
      inFlight.current = false
      setPosting(false)
    }
  }

  const done = outcome && KINDS.find((entry) => entry.value === outcome.kind)
  return (
    <Paper withBorder p="md" maw={560}>
      <form onSubmit={submit} noValidate>
        <Stack gap="md">
          <SegmentedControl
            value={kind}
            onChange={switchKind}
            data={KINDS.map((entry) => ({ value: entry.value, label: entry.label }))}
            fullWidth
            aria-label="Kind of movement"
          />
          <Select
            label="Wallet"
            data={usable.map((candidate) => ({
              value: candidate.id,
              label: walletLabel(candidate, decimalsOf, me.userId),
            }))}
            value={walletId}
            onChange={(value) => {
              setWalletId(value)
              setWalletError(undefined)
              setAmountError(undefined)
            }}
            allowDeselect={false}
            error={walletError}
          />
          <TextInput
            label="Amount"
            inputMode="decimal"
            autoComplete="off"
            placeholder={wallet ? formatAmount('0', decimalsOf(wallet.currency)) : '0.00'}
            description={
              wallet ? `In ${wallet.currency}, up to ${decimalsOf(wallet.currency)} decimals` : undefined
            }
            value={amount}
            onChange={(event) => {
              setAmount(event.currentTarget.value)
              setAmountError(undefined)
            }}
            error={amountError}
          />
          {kind === 'transfer' && (
            <TextInput
              label="Destination wallet ID"
              autoComplete="off"
              spellCheck={false}
              placeholder="0190…"
              value={destination}
              onChange={(event) => {
                setDestination(event.currentTarget.value)
                setDestinationError(undefined)
              }}
              error={destinationError}
            />
          )}
          <TextInput
            label="Description"
            description="Optional: shown in the history and on statements"
            value={description}
            onChange={(event) => setDescription(event.currentTarget.value)}
          />
          <ProblemAlert error={problem} />
          {outcome && done && (
            <Alert color="coffer" variant="light" role="status" title={done.done}>
              <Text size="sm">
                <Amount value={outcome.transaction.amount} currency={outcome.transaction.currency} />{' '}
                {outcome.transaction.currency}.{' '}
                <Anchor component={Link} to={`/transactions/${outcome.transaction.id}`} size="sm">
                  View the transaction
                </Anchor>
              </Text>
            </Alert>
          )}
          <Button type="submit" loading={posting} disabled={posting}>
            {spec.submit}
          </Button>
        </Stack>
      </form>
    </Paper>
  )
}

/**
 * The caller's wallets, and for an admin who followed Deposit from someone else's wallet page,
 * that wallet first: admins move money on any wallet.
 */
async function walletsToMove(askedId: string | null, isAdmin: boolean): Promise<Wallet[]> {
  const own = await loadMyWallets()
  if (!isAdmin || !askedId || !UUID.test(askedId) || own.some((wallet) => wallet.id === askedId)) return own
  try {
    return [await must(coffer.GET('/api/v1/wallets/{id}', { params: { path: { id: askedId } } })), ...own]
  } catch (error) {
    // A stale link to a wallet that is gone: the form still offers the admin's own wallets.
    if (error instanceof CofferProblemError && error.status === 404) return own
    throw error
  }
}

export function MoveMoneyPage() {
  usePageTitle('Move money')
  const { isAdmin } = useSignedIn()
  const askedId = useLocation().query.get('wallet')
  // Loaded once per visit: switching tabs rewrites ?kind= but keeps the list.
  const [initialAsk] = useState(askedId)
  const wallets = useResource(() => walletsToMove(initialAsk, isAdmin), [initialAsk, isAdmin])

  return (
    <Stack gap="lg">
      <Title order={1}>Move money</Title>
      <ProblemAlert error={wallets.error} />
      {wallets.loading && !wallets.data && <PageLoader label="Loading wallets" />}
      {wallets.data && wallets.data.length === 0 && (
        <Empty>
          Open a wallet first on the{' '}
          <Anchor component={Link} to="/wallets">
            Wallets
          </Anchor>{' '}
          page.
        </Empty>
      )}
      {wallets.data && wallets.data.length > 0 && (
        <MoveForm wallets={wallets.data} onMoved={wallets.reload} />
      )}
    </Stack>
  )
}
