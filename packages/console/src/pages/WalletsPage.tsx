import { Anchor, Button, Card, Group, Paper, Select, SimpleGrid, Stack, Text, Title } from '@mantine/core'
import { type FormEvent, useMemo, useState } from 'react'
import { coffer, must } from '../api'
import { Amount, Empty, PageLoader, ProblemAlert, WalletStatusBadge } from '../components'
import { useCurrencies } from '../currencies'
import { useResource } from '../hooks'
import { Link } from '../router'
import type { Wallet } from '../types'
import { usePageTitle } from '../usePageTitle'

export async function loadMyWallets(): Promise<Wallet[]> {
  return (await must(coffer.GET('/api/v1/wallets'))).items
}

/** `headingOrder` follows the page's outline: 2 under the page title, 3 under a section's. */
export function WalletCard({ wallet, headingOrder = 2 }: { wallet: Wallet; headingOrder?: 2 | 3 }) {
  return (
    <Card withBorder padding="lg" data-testid={`wallet-card-${wallet.currency}`}>
      <Group justify="space-between" mb="sm">
        <Title order={headingOrder} size="h3">
          {wallet.currency}
        </Title>
        <WalletStatusBadge status={wallet.status} />
      </Group>
      <Stack gap={4}>
        <Figure label="Balance" value={wallet.balance} currency={wallet.currency} strong />
        <Figure label="Available" value={wallet.available} currency={wallet.currency} />
        <Figure label="Held" value={wallet.pending} currency={wallet.currency} />
      </Stack>
      <Anchor component={Link} to={`/wallets/${wallet.id}`} mt="md" fw={600}>
        {`Open ${wallet.currency} wallet`}
      </Anchor>
    </Card>
  )
}

function Figure({
  label,
  value,
  currency,
  strong,
}: {
  label: string
  value: string
  currency: string
  strong?: boolean
}) {
  return (
    <Group justify="space-between" gap="xs">
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text fw={strong ? 700 : 400} size={strong ? 'lg' : 'sm'}>
        <Amount value={value} currency={currency} />
      </Text>
    </Group>
  )
}

function OpenWalletForm({ existing, onOpened }: { existing: Wallet[]; onOpened: () => void }) {
  const { currencies, error: catalogueError } = useCurrencies()
  const [currency, setCurrency] = useState<string | null>(null)
  const [submitting, setSubmitting] = useState(false)
  const [problem, setProblem] = useState<unknown>()
  const [fieldError, setFieldError] = useState<string>()

  const held = useMemo(() => new Set(existing.map((wallet) => wallet.currency)), [existing])
  const options = useMemo(
    () =>
      currencies
        .filter((entry) => entry.code !== 'PTS')
        .map((entry) => ({
          value: entry.code,
          label: `${entry.code} · ${entry.name}${held.has(entry.code) ? ' (open)' : ''}`,
        })),
    [currencies, held],
  )

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (submitting) return
    if (!currency) {
      setFieldError('Choose a currency')
      return
    }
    setSubmitting(true)
    setProblem(undefined)
    try {
      await must(coffer.POST('/api/v1/wallets', { body: { currency } }))
      setCurrency(null)
      onOpened()
    } catch (error) {
      setProblem(error)
    } finally {
      setSubmitting(false)
    }
  }

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Title order={2} size="h4">
            Open a wallet
          </Title>
          <Group align="flex-end" wrap="wrap">
            <Select
              label="Currency"
              placeholder="Pick a currency"
              searchable
              data={options}
              value={currency}
              onChange={(value) => {
                setCurrency(value)
                setFieldError(undefined)
              }}
              error={fieldError}
              nothingFoundMessage="No such currency"
              w={{ base: '100%', xs: 320 }}
            />
            <Button type="submit" loading={submitting} disabled={submitting}>
              Open wallet
            </Button>
          </Group>
          <ProblemAlert error={catalogueError} />
          <ProblemAlert error={problem} />
        </Stack>
      </form>
    </Paper>
  )
}

export function WalletsPage() {
  usePageTitle('Wallets')
  const wallets = useResource(loadMyWallets, [])

  return (
    <Stack gap="lg">
      <Title order={1}>Wallets</Title>
      <ProblemAlert error={wallets.error} />
      {wallets.loading && !wallets.data && <PageLoader label="Loading wallets" />}
      {wallets.data && wallets.data.length === 0 && (
        <Empty>You have no wallets yet. Open one below, then deposit into it from Move money.</Empty>
      )}
      {wallets.data && wallets.data.length > 0 && (
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
          {wallets.data.map((wallet) => (
            <WalletCard key={wallet.id} wallet={wallet} />
          ))}
        </SimpleGrid>
      )}
      <OpenWalletForm existing={wallets.data ?? []} onOpened={wallets.reload} />
    </Stack>
  )
}
