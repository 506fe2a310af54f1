import { Badge, Button, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core'
import type { ReactNode } from 'react'
import { coffer, must } from '../../api'
import { Empty, formatDateTime, PageLoader, ProblemAlert, TableScroll } from '../../components'
import { useResource } from '../../hooks'
import { usePageTitle } from '../../usePageTitle'

function Stat({ label, value, hint }: { label: string; value: ReactNode; hint?: ReactNode }) {
  return (
    <Paper withBorder p="md">
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text size="xl" fw={700}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Paper>
  )
}

function age(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`
  if (seconds < 86_400) return `${(seconds / 3600).toFixed(1)} h`
  return `${(seconds / 86_400).toFixed(1)} days`
}

export function OperationsPage() {
  usePageTitle('Operations')
  const overview = useResource(() => must(coffer.GET('/api/v1/operations/overview')), [])
  const figures = overview.data

  return (
    <Stack gap="lg">
      <Group justify="space-between">
        <Title order={1}>Operations</Title>
        <Button
          variant="default"
          onClick={overview.reload}
          loading={overview.loading && figures !== undefined}
        >
          Refresh
        </Button>
      </Group>
      <ProblemAlert error={overview.error} />
      {overview.loading && !figures && <PageLoader label="Loading the operations overview" />}
      {figures && (
        <>
          <Text size="sm" c="dimmed">
            Read from the database at {formatDateTime(figures.generatedAt)}.
          </Text>
          <section aria-labelledby="outbox-heading">
            <Title order={2} size="h4" mb="sm" id="outbox-heading">
              Outbox backlog
            </Title>
            <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }}>
              <Stat
                label="Events waiting to be published"
                value={figures.outbox.pending}
                hint={
                  figures.outbox.oldestPendingAt
                    ? `oldest ${age(figures.outbox.oldestPendingAgeSeconds)} old`
                    : 'none waiting'
                }
              />
              <Stat
                label="Operations accepted, not yet applied"
                value={figures.operations.accepted}
                hint={
                  figures.operations.oldestAcceptedAt &&
                  `oldest from ${formatDateTime(figures.operations.oldestAcceptedAt)}`
                }
              />
              <Stat label="Webhook deliveries pending" value={figures.webhooks.pendingDeliveries} />
              <Stat label="Webhook subscriptions disabled" value={figures.webhooks.disabledSubscriptions} />
            </SimpleGrid>
          </section>
          <section aria-labelledby="dead-letters-heading">
            <Title order={2} size="h4" mb="sm" id="dead-letters-heading">
              Dead letters
            </Title>
            <SimpleGrid cols={{ base: 1, xs: 3 }} mb="sm">
              <Stat label="Failed for good" value={figures.deadLetters.count} />
              <Stat label="Operations" value={figures.deadLetters.failedOperations} />
              <Stat label="Webhook deliveries" value={figures.deadLetters.failedWebhookDeliveries} />
            </SimpleGrid>
            {figures.deadLetters.latest.length === 0 ? (
              <Empty>Nothing has failed for good.</Empty>
            ) : (
              <Paper withBorder>
                <TableScroll minWidth={640} label="Latest dead letters">
                  <Table striped>
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Failed</Table.Th>
                        <Table.Th>Kind</Table.Th>
                        <Table.Th>Type</Table.Th>
                        <Table.Th>Reason</Table.Th>
                        <Table.Th>Source</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {figures.deadLetters.latest.map((letter) => (
                        <Table.Tr key={`${letter.kind}-${letter.id}`} data-testid="dead-letter-row">
                          <Table.Td>{formatDateTime(letter.failedAt)}</Table.Td>
                          <Table.Td>
                            {letter.kind === 'operation' ? 'operation' : 'webhook delivery'}
                          </Table.Td>
                          <Table.Td>{letter.type}</Table.Td>
                          <Table.Td>
                            <Text size="sm" fw={600}>
                              {letter.reason}
                            </Text>
                            {letter.detail && (
                              <Text size="xs" c="dimmed">
                                {letter.detail}
                              </Text>
                            )}
                            {letter.attempts !== null && (
                              <Text size="xs" c="dimmed">
                                after {letter.attempts} attempts
                              </Text>
                            )}
                          </Table.Td>
                          <Table.Td>{letter.source}</Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </TableScroll>
              </Paper>
            )}
          </section>
          <section aria-labelledby="worker-jobs-heading">
            <Title order={2} size="h4" mb="sm" id="worker-jobs-heading">
              Worker jobs
            </Title>
            {figures.workerJobs.length === 0 ? (
              <Empty>No periodic job has run yet: is a worker (coffer worker or coffer start) running?</Empty>
            ) : (
              <Paper withBorder>
                <TableScroll minWidth={560} label="Worker job leases">
                  <Table striped>
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Job</Table.Th>
                        <Table.Th>Holder</Table.Th>
                        <Table.Th>Lease until</Table.Th>
                        <Table.Th>State</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {figures.workerJobs.map((job) => (
                        <Table.Tr key={job.job}>
                          <Table.Td>{job.job}</Table.Td>
                          <Table.Td>
                            <Text size="xs" ff="monospace" style={{ wordBreak: 'break-all' }}>
                              {job.holder}
                            </Text>
                          </Table.Td>
                          <Table.Td>{formatDateTime(job.leaseUntil)}</Table.Td>
                          <Table.Td>
                            <Badge color={job.active ? 'coffer' : 'red'} variant="light">
                              {job.active ? 'running' : 'lapsed'}
                            </Badge>
                          </Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </TableScroll>
              </Paper>
            )}
          </section>
          <section aria-labelledby="statement-jobs-heading">
            <Title order={2} size="h4" mb="sm" id="statement-jobs-heading">
              Statement jobs
            </Title>
            <SimpleGrid cols={{ base: 2, md: 4 }}>
              <Stat
                label="Queued"
                value={figures.statementJobs.queued}
                hint={
                  figures.statementJobs.oldestQueuedAt &&
                  `oldest from ${formatDateTime(figures.statementJobs.oldestQueuedAt)}`
                }
              />
              <Stat label="Running" value={figures.statementJobs.running} />
              <Stat label="Done" value={figures.statementJobs.done} />
              <Stat label="Failed" value={figures.statementJobs.failed} />
            </SimpleGrid>
          </section>
        </>
      )}
    </Stack>
  )
}
