import { AreaChart } from '@mantine/charts'
import { Paper, Stack, Title } from '@mantine/core'
import { useMemo } from 'react'
import { coffer, must } from '../api'
import { Empty, formatDateTime, PageLoader, ProblemAlert } from '../components'
import { useCurrencies } from '../currencies'
import { useResource } from '../hooks'
import { chartValue } from '../money'
import type { Wallet } from '../types'

/** The latest entries plotted; older ones are in the history below the chart. */
const CHART_ENTRIES = 200

/** A wallet's balance after each of its latest entries, from the history's balanceAfter. */
export default function BalanceChart({ wallet }: { wallet: Wallet }) {
  const { decimalsOf } = useCurrencies()
  // The latest entries unfiltered: the chart shows the balance, whatever the history filter.
  const entries = useResource(
    () =>
      must(
        coffer.GET('/api/v1/wallets/{id}/transactions', {
          params: { path: { id: wallet.id }, query: { limit: CHART_ENTRIES } },
        }),
      ),
    [wallet.id, wallet.balance],
  )
  const decimals = decimalsOf(wallet.currency)
  const points = useMemo(() => {
    const page = entries.data
    if (!page) return []
    const plotted = [...page.items].reverse().map((entry) => ({
      time: formatDateTime(entry.createdAt),
      Balance: chartValue(entry.balanceAfter, decimals),
    }))
    if (plotted.length === 0) return []
    // The whole history fits the page: the line can start at zero, when the wallet was opened.
    if (page.nextCursor === null) plotted.unshift({ time: formatDateTime(wallet.createdAt), Balance: 0 })
    plotted.push({ time: 'now', Balance: chartValue(wallet.balance, decimals) })
    return plotted
  }, [entries.data, decimals, wallet.createdAt, wallet.balance])

  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Title order={2} size="h4" id="balance-chart-title">
          Balance over time
        </Title>
        <ProblemAlert error={entries.error} />
        {entries.loading && !entries.data && <PageLoader label="Loading the balance chart" />}
        {entries.data && points.length === 0 && (
          <Empty>No movements yet: the chart starts with the first one.</Empty>
        )}
        {points.length > 0 && (
          <AreaChart
            h={220}
            data={points}
            dataKey="time"
            series={[{ name: 'Balance', color: 'coffer.7', label: `Balance (${wallet.currency})` }]}
            curveType="stepAfter"
            withDots={points.length < 40}
            valueFormatter={(value) => value.toFixed(Math.min(decimals, 20))}
            aria-labelledby="balance-chart-title"
            role="img"
          />
        )}
      </Stack>
    </Paper>
  )
}
