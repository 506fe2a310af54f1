import { Anchor, Badge, Button, Group, Paper, Stack, Table, TextInput, Title } from '@mantine/core'
import { useDebouncedValue } from '@mantine/hooks'
import { useState } from 'react'
import { coffer, must } from '../../api'
import { Empty, formatDateTime, PageLoader, ProblemAlert, TableScroll } from '../../components'
import { useResource } from '../../hooks'
import { Link } from '../../router'
import { usePageTitle } from '../../usePageTitle'

const PAGE_SIZE = 25

export function UsersPage() {
  usePageTitle('Users')
  const [search, setSearch] = useState('')
  // Typing a whole address should cost one request, not one per key.
  const [email] = useDebouncedValue(search.trim(), 300)
  const [cursors, setCursors] = useState<string[]>([])
  const cursor = cursors.at(-1)
  const users = useResource(
    () =>
      must(
        coffer.GET('/api/v1/users', {
          params: { query: { limit: PAGE_SIZE, ...(email ? { email } : {}), ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [email, cursor],
  )
  const nextCursor = users.data?.nextCursor ?? null

  return (
    <Stack gap="lg">
      <Title order={1}>Users</Title>
      <TextInput
        label="Search by email"
        type="search"
        placeholder="ada@ or @example.com"
        value={search}
        onChange={(event) => {
          setSearch(event.currentTarget.value)
          setCursors([])
        }}
        maw={420}
      />
      <ProblemAlert error={users.error} />
      {users.loading && !users.data && <PageLoader label="Loading users" />}
      {users.data && users.data.items.length === 0 && <Empty>No user's email contains “{email}”.</Empty>}
      {users.data && users.data.items.length > 0 && (
        <Paper withBorder>
          <TableScroll minWidth={560} label="Users">
            <Table striped highlightOnHover>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Email</Table.Th>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Roles</Table.Th>
                  <Table.Th>Created</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {users.data.items.map((user) => (
                  <Table.Tr key={user.id} data-testid="user-row">
                    <Table.Td>
                      <Anchor component={Link} to={`/admin/users/${user.id}`}>
                        {user.email ?? user.id}
                      </Anchor>
                    </Table.Td>
                    <Table.Td>{user.name ?? ''}</Table.Td>
                    <Table.Td>
                      <Group gap={4}>
                        {user.roles.map((role) => (
                          <Badge
                            key={role}
                            variant="light"
                            size="sm"
                            color={role === 'admin' ? 'grape' : undefined}
                          >
                            {role}
                          </Badge>
                        ))}
                      </Group>
                    </Table.Td>
                    <Table.Td>{formatDateTime(user.createdAt)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </TableScroll>
        </Paper>
      )}
      <Group gap="sm">
        <Button variant="default" disabled={cursors.length === 0} onClick={() => setCursors([])}>
          First page
        </Button>
        <Button
          variant="default"
          disabled={!nextCursor || users.loading}
          onClick={() => nextCursor && setCursors([...cursors, nextCursor])}
        >
          Next page
        </Button>
      </Group>
    </Stack>
  )
}
