import { Badge, Group, Paper, SimpleGrid, Stack, Text, Title } from '@mantine/core'
import { coffer, must } from '../../api'
import { Empty, formatDateTime, PageLoader, ProblemAlert } from '../../components'
import { useResource } from '../../hooks'
import { usePageTitle } from '../../usePageTitle'
import { WalletCard } from '../WalletsPage'

export function UserPage({ userId }: { userId: string }) {
  const user = useResource(
    () => must(coffer.GET('/api/v1/users/{id}', { params: { path: { id: userId } } })),
    [userId],
  )
  const wallets = useResource(
    async () => (await must(coffer.GET('/api/v1/wallets', { params: { query: { userId } } }))).items,
    [userId],
  )
  const found = user.data
  usePageTitle(found?.email ?? 'User')

  return (
    <Stack gap="lg">
      <ProblemAlert error={user.error} />
      {user.loading && !found && <PageLoader label="Loading the user" />}
      {found && (
        <>
          <Stack gap={4}>
            <Title order={1} style={{ overflowWrap: 'anywhere' }}>
              {found.email ?? found.id}
            </Title>
            <Group gap="xs">
              {found.roles.map((role) => (
                <Badge key={role} variant="light" color={role === 'admin' ? 'grape' : undefined}>
                  {role}
                </Badge>
              ))}
            </Group>
          </Stack>
          <Paper withBorder p="md">
            <SimpleGrid cols={{ base: 1, xs: 3 }}>
              <div>
                <Text size="sm" c="dimmed">
                  Name
                </Text>
                <Text>{found.name ?? '—'}</Text>
              </div>
              <div>
                <Text size="sm" c="dimmed">
                  Created
                </Text>
                <Text>{formatDateTime(found.createdAt)}</Text>
              </div>
              <div>
                <Text size="sm" c="dimmed">
                  User ID
                </Text>
                <Text ff="monospace" size="sm" style={{ wordBreak: 'break-all' }}>
                  {found.id}
                </Text>
              </div>
            </SimpleGrid>
          </Paper>
        </>
      )}
      <Title order={2} size="h3">
        Wallets
      </Title>
      <ProblemAlert error={wallets.error} />
      {wallets.loading && !wallets.data && <PageLoader label="Loading the user's wallets" />}
      {wallets.data && wallets.data.length === 0 && <Empty>This user has no wallets.</Empty>}
      {wallets.data && wallets.data.length > 0 && (
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
          {wallets.data.map((wallet) => (
            <WalletCard key={wallet.id} wallet={wallet} headingOrder={3} />
          ))}
        </SimpleGrid>
      )}
    </Stack>
  )
}
