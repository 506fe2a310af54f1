import { Anchor, Badge, Code, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core'
import type { ReactNode } from 'react'
import { coffer, must } from '../api'
import { Amount, formatDateTime, PageLoader, ProblemAlert, TableScroll } from '../components'
import { useResource } from '../hooks'
import { Link } from '../router'
import { usePageTitle } from '../usePageTitle'

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text component="div">{children}</Text>
    </div>
  )
}

export function TransactionPage({ transactionId }: { transactionId: string }) {
  usePageTitle('Transaction')
  const transaction = useResource(
    () => must(coffer.GET('/api/v1/transactions/{id}', { params: { path: { id: transactionId } } })),
    [transactionId],
  )
  const found = transaction.data

  return (
    <Stack gap="lg">
      <Title order={1}>Transaction</Title>
      <ProblemAlert error={transaction.error} />
      {transaction.loading && <PageLoader label="Loading the transaction" />}
      {found && (
        <>
          <Paper withBorder p="md">
            <SimpleGrid cols={{ base: 1, xs: 2, md: 3 }} spacing="md">
              <Fact label="Type">{found.type}</Fact>
              <Fact label="Status">
                <Badge variant="light">{found.status}</Badge>
              </Fact>
              <Fact label="Time">{formatDateTime(found.createdAt)}</Fact>
              <Fact label="Amount">
                <Amount value={found.amount} currency={found.currency} /> {found.currency}
              </Fact>
              <Fact label="Description">{found.description ?? '—'}</Fact>
              <Fact label="Reference">{found.reference ?? '—'}</Fact>
              <Fact label="Transaction ID">
                <Code style={{ wordBreak: 'break-all' }}>{found.id}</Code>
              </Fact>
              {found.reversesId && (
                <Fact label="Reverses">
                  <Anchor component={Link} to={`/transactions/${found.reversesId}`}>
                    {found.reversesId}
                  </Anchor>
                </Fact>
              )}
              {found.flags.length > 0 && (
                <Fact label="Flags">
                  <Group gap={4}>
                    {found.flags.map((flag) => (
                      <Badge key={flag} variant="outline" size="sm">
                        {flag}
                      </Badge>
                    ))}
                  </Group>
                </Fact>
              )}
            </SimpleGrid>
          </Paper>
          <Paper withBorder p="md">
            <Title order={2} size="h4" mb="sm">
              Entries
            </Title>
            <TableScroll minWidth={480} label="Entries">
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Account</Table.Th>
                    <Table.Th>Currency</Table.Th>
                    <Table.Th ta="right">Amount</Table.Th>
                    <Table.Th ta="right">Balance after</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {found.entries.map((entry, index) => (
                    // Entries have no id of their own; their order within a transaction is fixed.
                    // biome-ignore lint/suspicious/noArrayIndexKey: see above
                    <Table.Tr key={index}>
                      <Table.Td>
                        {/* Another holder's wallet (no balance shown) would only answer 404: no link. */}
                        {entry.walletId && entry.balanceAfter !== null ? (
                          <Anchor component={Link} to={`/wallets/${entry.walletId}`} size="sm">
                            Wallet {entry.walletId}
                          </Anchor>
                        ) : entry.walletId ? (
                          `Wallet ${entry.walletId}`
                        ) : (
                          (entry.account ?? 'counterparty')
                        )}
                      </Table.Td>
                      <Table.Td>{entry.currency}</Table.Td>
                      <Table.Td ta="right">
                        <Amount value={entry.amount} currency={entry.currency} signed />
                      </Table.Td>
                      <Table.Td ta="right">
                        {/* Null for a system account, or a wallet that is not the caller's to read. */}
                        {entry.balanceAfter === null ? (
                          <Text span c="dimmed">
                            —
                          </Text>
                        ) : (
                          <Amount value={entry.balanceAfter} currency={entry.currency} />
                        )}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </TableScroll>
          </Paper>
        </>
      )}
    </Stack>
  )
}
