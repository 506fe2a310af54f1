import { Badge, Button, Group, Paper, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { type FormEvent, useRef, useState } from 'react'
import { coffer, isNetworkFailure, must, newIdempotencyKey } from '../api'
import { Amount, Empty, formatDateTime, PageLoader, ProblemAlert, TableScroll } from '../components'
import { useCurrencies } from '../currencies'
import { useResource } from '../hooks'
import { checkAmountInput } from '../money'
import type { Hold, Wallet } from '../types'
import { usePageTitle } from '../usePageTitle'
import { loadMyWallets } from './WalletsPage'

const HOLD_COLORS: Record<Hold['status'], string> = {
  pending: 'blue',
  captured: 'coffer',
  voided: 'gray',
  expired: 'gray',
}

type HoldAction = 'capture' | 'void'

function HoldRow({ hold, onSettled }: { hold: Hold; onSettled: () => void }) {
  const [running, setRunning] = useState<HoldAction>()
  const [problem, setProblem] = useState<unknown>()
  // One key per action on this hold: a retried click replays the first capture instead of a second.
  const keys = useRef<Partial<Record<HoldAction, string>>>({})

  async function settle(action: HoldAction) {
    if (running) return
    setRunning(action)
    setProblem(undefined)
    const key = keys.current[action] ?? newIdempotencyKey()
    keys.current[action] = key
    try {
      const init = { params: { path: { id: hold.id } }, body: {}, idempotencyKey: key }
      if (action === 'capture') await must(coffer.POST('/api/v1/holds/{id}/capture', init))
      else await must(coffer.POST('/api/v1/holds/{id}/void', init))
      onSettled()
    } catch (error) {
      if (!isNetworkFailure(error)) delete keys.current[action]
      setProblem(error)
    } finally {
      setRunning(undefined)
    }
  }

  return (
    <>
      <Table.Tr data-testid="hold-row">
        <Table.Td>{formatDateTime(hold.createdAt)}</Table.Td>
        <Table.Td>{hold.merchant ?? hold.description ?? '—'}</Table.Td>
        <Table.Td ta="right">
          <Amount value={hold.amount} currency={hold.currency} />
        </Table.Td>
        <Table.Td>
          <Badge color={HOLD_COLORS[hold.status]} variant="light">
            {hold.status}
          </Badge>
          {hold.capturedAmount !== null && (
            <Text size="xs" c="dimmed">
              captured <Amount value={hold.capturedAmount} currency={hold.currency} />
            </Text>
          )}
        </Table.Td>
        <Table.Td>{hold.expiresAt ? formatDateTime(hold.expiresAt) : 'never'}</Table.Td>
        <Table.Td>
          {hold.status === 'pending' && (
            <Group gap="xs" wrap="nowrap">
              <Button
                size="xs"
                loading={running === 'capture'}
                disabled={running !== undefined}
                onClick={() => void settle('capture')}
                title={`Capture the hold of ${hold.amount} ${hold.currency}`}
              >
                Capture
              </Button>
              <Button
                size="xs"
                variant="default"
                loading={running === 'void'}
                disabled={running !== undefined}
                onClick={() => void settle('void')}
                title={`Void the hold of ${hold.amount} ${hold.currency}`}
              >
                Void
              </Button>
            </Group>
          )}
        </Table.Td>
      </Table.Tr>
      {problem !== undefined && (
        <Table.Tr>
          <Table.Td colSpan={6}>
            <ProblemAlert error={problem} />
          </Table.Td>
        </Table.Tr>
      )}
    </>
  )
}

function WalletHolds({
  wallet,
  version,
  onChanged,
}: {
  wallet: Wallet
  version: number
  onChanged: () => void
}) {
  const holds = useResource(
    async () =>
      (await must(coffer.GET('/api/v1/wallets/{id}/holds', { params: { path: { id: wallet.id } } }))).items,
    [wallet.id, version],
  )
  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Group justify="space-between">
          <Title order={2} size="h4">
            {`${wallet.currency} wallet`}
          </Title>
          <Text size="sm" c="dimmed">
            Held <Amount value={wallet.pending} currency={wallet.currency} /> of{' '}
            <Amount value={wallet.balance} currency={wallet.currency} />
          </Text>
        </Group>
        <ProblemAlert error={holds.error} />
        {holds.loading && !holds.data && (
          <PageLoader label={`Loading the holds of the ${wallet.currency} wallet`} />
        )}
        {holds.data && holds.data.length === 0 && <Empty>No holds on this wallet.</Empty>}
        {holds.data && holds.data.length > 0 && (
          <TableScroll minWidth={640} label={`Holds of the ${wallet.currency} wallet`}>
            <Table striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Placed</Table.Th>
                  <Table.Th>Merchant</Table.Th>
                  <Table.Th ta="right">Amount</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>Expires</Table.Th>
                  <Table.Th>Actions</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {holds.data.map((hold) => (
                  <HoldRow key={hold.id} hold={hold} onSettled={onChanged} />
                ))}
              </Table.Tbody>
            </Table>
          </TableScroll>
        )}
      </Stack>
    </Paper>
  )
}

function PlaceHoldForm({ wallets, onPlaced }: { wallets: Wallet[]; onPlaced: () => void }) {
  const { decimalsOf } = useCurrencies()
  const [walletId, setWalletId] = useState<string | null>(wallets[0]?.id ?? null)
  const [amount, setAmount] = useState('')
  const [merchant, setMerchant] = useState('')
  const [amountError, setAmountError] = useState<string>()
  const [posting, setPosting] = useState(false)
  const [problem, setProblem] = useState<unknown>()
  const inFlight = useRef(false)
  const wallet = wallets.find((candidate) => candidate.id === walletId)

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (inFlight.current || !wallet) return
    const checked = checkAmountInput(amount, decimalsOf(wallet.currency), wallet.currency)
    if (!checked.ok) {
      setAmountError(checked.message)
      return
    }
    inFlight.current = true
    setPosting(true)
    setProblem(undefined)
    try {
      const trimmedMerchant = merchant.trim()
      await must(
        coffer.POST('/api/v1/holds', {
          body: {
            walletId: wallet.id,
            amount: checked.amount,
            ...(trimmedMerchant ? { merchant: trimmedMerchant } : {}),
          },
          idempotencyKey: newIdempotencyKey(),
        }),
      )
      setAmount('')
      setMerchant('')
      onPlaced()
    } catch (error) {
      setProblem(error)
    } finally {
      inFlight.current = false
      setPosting(false)
    }
  }

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Title order={2} size="h4">
            Place a hold
          </Title>
          <Text size="sm" c="dimmed">
            A hold reserves money: available drops, the balance stays, until it is captured, voided or
            expires.
          </Text>
          <Group align="flex-start" wrap="wrap">
            <Select
              label="Hold wallet"
              data={wallets.map((candidate) => ({
                value: candidate.id,
                label: `${candidate.currency} wallet`,
              }))}
              value={walletId}
              onChange={setWalletId}
              allowDeselect={false}
              w={{ base: '100%', xs: 180 }}
            />
            <TextInput
              label="Hold amount"
              inputMode="decimal"
              value={amount}
              onChange={(event) => {
                setAmount(event.currentTarget.value)
                setAmountError(undefined)
              }}
              error={amountError}
              w={{ base: '100%', xs: 160 }}
            />
            <TextInput
              label="Merchant"
              description="Optional"
              value={merchant}
              onChange={(event) => setMerchant(event.currentTarget.value)}
              w={{ base: '100%', xs: 200 }}
            />
          </Group>
          <ProblemAlert error={problem} />
          <Group>
            <Button type="submit" variant="light" loading={posting} disabled={posting}>
              Place hold
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  )
}

export function HoldsPage() {
  usePageTitle('Holds')
  const wallets = useResource(loadMyWallets, [])
  const [version, setVersion] = useState(0)
  const changed = () => {
    setVersion((value) => value + 1)
    wallets.reload()
  }
  const open = wallets.data?.filter((wallet) => wallet.status !== 'closed') ?? []

  return (
    <Stack gap="lg">
      <Title order={1}>Holds</Title>
      <ProblemAlert error={wallets.error} />
      {wallets.loading && !wallets.data && <PageLoader label="Loading wallets" />}
      {wallets.data && wallets.data.length === 0 && <Empty>You have no wallets, so no holds.</Empty>}
      {wallets.data?.map((wallet) => (
        <WalletHolds key={wallet.id} wallet={wallet} version={version} onChanged={changed} />
      ))}
      {open.length > 0 && <PlaceHoldForm wallets={open} onPlaced={changed} />}
    </Stack>
  )
}
