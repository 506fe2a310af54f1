import {
  Anchor,
  Button,
  Code,
  Group,
  Modal,
  Paper,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { type FormEvent, lazy, Suspense, useState } from 'react'
import { coffer, must } from '../api'
import {
  Amount,
  Empty,
  formatDateTime,
  PageLoader,
  ProblemAlert,
  TableScroll,
  WalletStatusBadge,
} from '../components'
import { endOfDayExclusive, startOfDay } from '../dates'
import { useResource } from '../hooks'
import { Link } from '../router'
import { useSignedIn } from '../session'
import type { HistoryItem, Wallet } from '../types'
import { usePageTitle } from '../usePageTitle'

// Recharts is most of the console's weight: it loads with the first wallet page, not at sign-in.
const BalanceChart = lazy(() => import('./BalanceChart'))

/** The transaction types a wallet's history can hold (points have their own page). */
export const WALLET_TRANSACTION_TYPES = [
  'deposit',
  'withdrawal',
  'transfer',
  'purchase',
  'hold',
  'capture',
  'void',
  'reversal',
  'exchange',
] as const

const HISTORY_PAGE_SIZE = 20

interface HistoryFilter {
  type: string | null
  from: string
  to: string
}

function Figure({
  label,
  value,
  currency,
  testId,
}: {
  label: string
  value: string
  currency: string
  testId: string
}) {
  return (
    <Paper withBorder p="md">
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text size="xl" fw={700}>
        <Amount value={value} currency={currency} testId={testId} />
      </Text>
    </Paper>
  )
}

function HistoryTable({ items, currency }: { items: HistoryItem[]; currency: string }) {
  return (
    <TableScroll minWidth={560} label="History">
      <Table striped highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Date</Table.Th>
            <Table.Th>Type</Table.Th>
            <Table.Th>Description</Table.Th>
            <Table.Th ta="right">Amount</Table.Th>
            <Table.Th ta="right">Balance after</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((item) => (
            <Table.Tr
              key={`${item.transactionId}-${item.balanceAfter}-${item.createdAt}`}
              data-testid="history-row"
            >
              <Table.Td>
                <Anchor component={Link} to={`/transactions/${item.transactionId}`} size="sm">
                  {formatDateTime(item.createdAt)}
                </Anchor>
              </Table.Td>
              <Table.Td>{item.type}</Table.Td>
              <Table.Td>{item.description ?? item.reference ?? ''}</Table.Td>
              <Table.Td ta="right">
                <Amount value={item.amount} currency={currency} signed />
              </Table.Td>
              <Table.Td ta="right">
                <Amount value={item.balanceAfter} currency={currency} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </TableScroll>
  )
}

function History({ wallet }: { wallet: Wallet }) {
  const [draft, setDraft] = useState<HistoryFilter>({ type: null, from: '', to: '' })
  const [applied, setApplied] = useState<HistoryFilter>(draft)
  const [cursors, setCursors] = useState<string[]>([])
  const cursor = cursors.at(-1)
  const [dateError, setDateError] = useState<string>()

  const page = useResource(
    () =>
      must(
        coffer.GET('/api/v1/wallets/{id}/transactions', {
          params: {
            path: { id: wallet.id },
            query: {
              limit: HISTORY_PAGE_SIZE,
              ...(cursor ? { cursor } : {}),
              ...(applied.type ? { type: applied.type } : {}),
              ...(applied.from ? { from: startOfDay(applied.from) } : {}),
              ...(applied.to ? { to: endOfDayExclusive(applied.to) } : {}),
            },
          },
        }),
      ),
    [wallet.id, wallet.balance, applied, cursor],
  )

  function apply(event: FormEvent) {
    event.preventDefault()
    if (draft.from && draft.to && draft.from > draft.to) {
      setDateError('"From" must be on or before "To"')
      return
    }
    setDateError(undefined)
    setApplied({ ...draft })
    setCursors([])
  }

  const nextCursor = page.data?.nextCursor ?? null
  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Title order={2} size="h4">
          History
        </Title>
        <form onSubmit={apply} noValidate>
          <Group align="flex-end" wrap="wrap" gap="sm">
            <Select
              label="Type"
              data={[
                { value: '', label: 'All types' },
                ...WALLET_TRANSACTION_TYPES.map((type) => ({ value: type, label: type })),
              ]}
              value={draft.type ?? ''}
              onChange={(value) => setDraft({ ...draft, type: value || null })}
              allowDeselect={false}
              w={{ base: '100%', xs: 180 }}
            />
            <TextInput
              label="From"
              type="date"
              value={draft.from}
              onChange={(event) => setDraft({ ...draft, from: event.currentTarget.value })}
              w={{ base: '100%', xs: 170 }}
            />
            <TextInput
              label="To"
              type="date"
              value={draft.to}
              onChange={(event) => setDraft({ ...draft, to: event.currentTarget.value })}
              error={dateError}
              w={{ base: '100%', xs: 170 }}
            />
            <Button type="submit" variant="light" loading={page.loading && page.data !== undefined}>
              Apply filters
            </Button>
          </Group>
        </form>
        <ProblemAlert error={page.error} />
        {page.loading && !page.data && <PageLoader label="Loading history" />}
        {page.data && page.data.items.length === 0 && <Empty>No movements match these filters.</Empty>}
        {page.data && page.data.items.length > 0 && (
          <HistoryTable items={page.data.items} currency={wallet.currency} />
        )}
        <Group gap="sm">
          <Button variant="default" disabled={cursors.length === 0} onClick={() => setCursors([])}>
            First page
          </Button>
          <Button
            variant="default"
            disabled={!nextCursor || page.loading}
            onClick={() => nextCursor && setCursors([...cursors, nextCursor])}
          >
            Next page
          </Button>
          {cursors.length > 0 && (
            <Text size="sm" c="dimmed">
              Page {cursors.length + 1}
            </Text>
          )}
        </Group>
      </Stack>
    </Paper>
  )
}

type AdminAction = 'freeze' | 'unfreeze' | 'close'

function AdminActions({ wallet, onChanged }: { wallet: Wallet; onChanged: (wallet: Wallet) => void }) {
  const [running, setRunning] = useState<AdminAction>()
  const [problem, setProblem] = useState<unknown>()
  const [confirmingClose, setConfirmingClose] = useState(false)

  async function run(action: AdminAction) {
    setRunning(action)
    setProblem(undefined)
    try {
      const params = { params: { path: { id: wallet.id } }, body: {} }
      const changed =
        action === 'freeze'
          ? await must(coffer.POST('/api/v1/wallets/{id}/freeze', params))
          : action === 'unfreeze'
            ? await must(coffer.POST('/api/v1/wallets/{id}/unfreeze', params))
            : await must(coffer.POST('/api/v1/wallets/{id}/close', params))
      setConfirmingClose(false)
      onChanged(changed)
    } catch (error) {
      setProblem(error)
    } finally {
      setRunning(undefined)
    }
  }

  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Group justify="space-between">
          <Title order={2} size="h4">
            Admin
          </Title>
          <Anchor component={Link} to={`/admin/users/${wallet.userId}`} size="sm">
            The wallet’s owner
          </Anchor>
        </Group>
        <Group gap="sm">
          {wallet.status === 'active' && (
            <Button
              color="blue"
              variant="light"
              loading={running === 'freeze'}
              onClick={() => void run('freeze')}
            >
              Freeze wallet
            </Button>
          )}
          {wallet.status === 'frozen' && (
            <Button
              color="blue"
              variant="light"
              loading={running === 'unfreeze'}
              onClick={() => void run('unfreeze')}
            >
              Unfreeze wallet
            </Button>
          )}
          {wallet.status !== 'closed' && (
            <Button color="red" variant="light" onClick={() => setConfirmingClose(true)}>
              Close wallet
            </Button>
          )}
        </Group>
        {!confirmingClose && <ProblemAlert error={problem} />}
      </Stack>
      <Modal
        opened={confirmingClose}
        onClose={() => setConfirmingClose(false)}
        title="Close this wallet?"
        centered
      >
        <Stack gap="md">
          <Text>
            A closed wallet takes no more movements and cannot be reopened. Coffer only closes a wallet whose
            balance is zero.
          </Text>
          <ProblemAlert error={problem} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setConfirmingClose(false)}>
              Cancel
            </Button>
            <Button color="red" loading={running === 'close'} onClick={() => void run('close')}>
              Confirm close
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Paper>
  )
}

export function WalletPage({ walletId }: { walletId: string }) {
  const { isAdmin } = useSignedIn()
  const [changed, setChanged] = useState<Wallet>()
  const loaded = useResource(
    () => must(coffer.GET('/api/v1/wallets/{id}', { params: { path: { id: walletId } } })),
    [walletId],
  )
  const wallet = changed ?? loaded.data
  usePageTitle(wallet ? `${wallet.currency} wallet` : 'Wallet')

  if (!wallet) {
    return (
      <Stack gap="lg">
        <Title order={1}>Wallet</Title>
        <ProblemAlert error={loaded.error} />
        {loaded.loading && <PageLoader label="Loading the wallet" />}
      </Stack>
    )
  }

  const moveLink = (kind: string) => `/move?wallet=${wallet.id}&kind=${kind}`
  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-start" wrap="wrap">
        <Stack gap={4}>
          <Group gap="sm">
            <Title order={1}>{`${wallet.currency} wallet`}</Title>
            <WalletStatusBadge status={wallet.status} testId="wallet-status" />
          </Group>
          <Text size="sm" c="dimmed">
            Wallet ID{' '}
            <Code data-testid="wallet-id" style={{ wordBreak: 'break-all' }}>
              {wallet.id}
            </Code>
          </Text>
        </Stack>
        <Group gap="xs">
          <Button component={Link} to={moveLink('deposit')} variant="light">
            Deposit
          </Button>
          <Button component={Link} to={moveLink('withdrawal')} variant="light">
            Withdraw
          </Button>
          <Button component={Link} to={moveLink('transfer')} variant="light">
            Transfer
          </Button>
        </Group>
      </Group>
      <SimpleGrid cols={{ base: 1, xs: 3 }}>
        <Figure label="Balance" value={wallet.balance} currency={wallet.currency} testId="wallet-balance" />
        <Figure
          label="Available"
          value={wallet.available}
          currency={wallet.currency}
          testId="wallet-available"
        />
        <Figure label="Held" value={wallet.pending} currency={wallet.currency} testId="wallet-held" />
      </SimpleGrid>
      {isAdmin && <AdminActions wallet={wallet} onChanged={setChanged} />}
      <Suspense fallback={<PageLoader label="Loading the balance chart" />}>
        <BalanceChart wallet={wallet} />
      </Suspense>
      <History wallet={wallet} />
    </Stack>
  )
}
