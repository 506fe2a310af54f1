import { Badge, Button, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core'
import { useState } from 'react'
import { coffer, must } from '../api'
import { Empty, formatDate, formatDateTime, PageLoader, ProblemAlert, TableScroll } from '../components'
import { useResource } from '../hooks'
import { isNegative } from '../money'
import { usePageTitle } from '../usePageTitle'

const HISTORY_PAGE_SIZE = 20

/** Points are whole numbers as decimal strings: shown as sent, with a sign on changes. */
function Points({ value, signed = false, testId }: { value: string; signed?: boolean; testId?: string }) {
  const color = signed ? (isNegative(value) ? 'red.9' : 'coffer.9') : undefined
  return (
    <Text span c={color} style={{ fontVariantNumeric: 'tabular-nums' }} data-testid={testId}>
      {signed && !isNegative(value) && value !== '0' ? `+${value}` : value}
    </Text>
  )
}

function Summary() {
  const summary = useResource(() => must(coffer.GET('/api/v1/points')), [])
  const figures = summary.data
  return (
    <>
      <ProblemAlert error={summary.error} />
      {summary.loading && !figures && <PageLoader label="Loading points" />}
      {figures && (
        <SimpleGrid cols={{ base: 1, xs: 3 }}>
          <Paper withBorder p="md">
            <Text size="sm" c="dimmed">
              Available
            </Text>
            <Text size="xl" fw={700}>
              <Points value={figures.available} testId="points-available" />
            </Text>
          </Paper>
          <Paper withBorder p="md">
            <Text size="sm" c="dimmed">
              Pending
            </Text>
            <Text size="xl" fw={700}>
              <Points value={figures.pending} testId="points-pending" />
            </Text>
          </Paper>
          <Paper withBorder p="md">
            <Text size="sm" c="dimmed">
              {`Lapsing within ${figures.expiringSoon.withinDays} days`}
            </Text>
            <Text size="xl" fw={700}>
              <Points value={figures.expiringSoon.points} />
            </Text>
            {figures.expiringSoon.nextExpiryAt && (
              <Text size="xs" c="dimmed">
                next on {formatDate(figures.expiringSoon.nextExpiryAt)}
              </Text>
            )}
          </Paper>
        </SimpleGrid>
      )}
    </>
  )
}

function Lots() {
  const lots = useResource(async () => (await must(coffer.GET('/api/v1/points/lots'))).items, [])
  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Title order={2} size="h4">
          Lots
        </Title>
        <Text size="sm" c="dimmed">
          Points are spent from the lot that lapses first.
        </Text>
        <ProblemAlert error={lots.error} />
        {lots.loading && !lots.data && <PageLoader label="Loading lots" />}
        {lots.data && lots.data.length === 0 && <Empty>No points yet.</Empty>}
        {lots.data && lots.data.length > 0 && (
          <TableScroll minWidth={520} label="Lots">
            <Table striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Source</Table.Th>
                  <Table.Th ta="right">Remaining</Table.Th>
                  <Table.Th ta="right">Earned</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>Available from</Table.Th>
                  <Table.Th>Expires</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {lots.data.map((lot) => (
                  <Table.Tr key={lot.id} data-testid="points-lot">
                    <Table.Td>{lot.source}</Table.Td>
                    <Table.Td ta="right">
                      <Points value={lot.remaining} />
                    </Table.Td>
                    <Table.Td ta="right">
                      <Points value={lot.points} />
                    </Table.Td>
                    <Table.Td>
                      <Badge variant="light">{lot.status}</Badge>
                    </Table.Td>
                    <Table.Td>{formatDate(lot.availableAt)}</Table.Td>
                    <Table.Td>{lot.expiresAt ? formatDate(lot.expiresAt) : 'never'}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </TableScroll>
        )}
      </Stack>
    </Paper>
  )
}

function History() {
  const [cursors, setCursors] = useState<string[]>([])
  const cursor = cursors.at(-1)
  const page = useResource(
    () =>
      must(
        coffer.GET('/api/v1/points/transactions', {
          params: { query: { limit: HISTORY_PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [cursor],
  )
  const nextCursor = page.data?.nextCursor ?? null

  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <Title order={2} size="h4">
          History
        </Title>
        <ProblemAlert error={page.error} />
        {page.loading && !page.data && <PageLoader label="Loading points history" />}
        {page.data && page.data.items.length === 0 && <Empty>Nothing has happened to your points yet.</Empty>}
        {page.data && page.data.items.length > 0 && (
          <TableScroll minWidth={560} label="Points history">
            <Table striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Date</Table.Th>
                  <Table.Th>Type</Table.Th>
                  <Table.Th>Description</Table.Th>
                  <Table.Th ta="right">Points</Table.Th>
                  <Table.Th ta="right">Available after</Table.Th>
                  <Table.Th ta="right">Pending after</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {page.data.items.map((item, index) => (
                  // Points rows have no id of their own (a lot turning available has no transaction).
                  // biome-ignore lint/suspicious/noArrayIndexKey: rows of one page never reorder
                  <Table.Tr key={`${cursor ?? ''}-${index}`} data-testid="points-history-row">
                    <Table.Td>{formatDateTime(item.createdAt)}</Table.Td>
                    <Table.Td>{item.type}</Table.Td>
                    <Table.Td>{item.description ?? item.source ?? ''}</Table.Td>
                    <Table.Td ta="right">
                      <Points value={item.points} signed />
                    </Table.Td>
                    <Table.Td ta="right">
                      <Points value={item.availableAfter} />
                    </Table.Td>
                    <Table.Td ta="right">
                      <Points value={item.pendingAfter} />
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </TableScroll>
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
        </Group>
      </Stack>
    </Paper>
  )
}

export function PointsPage() {
  usePageTitle('Points')
  return (
    <Stack gap="lg">
      <Title order={1}>Points</Title>
      <Summary />
      <Lots />
      <History />
    </Stack>
  )
}
