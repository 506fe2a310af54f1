import {
  Alert,
  Badge,
  Button,
  Code,
  CopyButton,
  Group,
  Paper,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { type FormEvent, useState } from 'react'
import { coffer, must } from '../../api'
import { Empty, formatDateTime, PageLoader, ProblemAlert, TableScroll } from '../../components'
import { useResource } from '../../hooks'
import type { ApiKey, CreatedApiKey, Role } from '../../types'
import { usePageTitle } from '../../usePageTitle'

const ROLES: { value: Role; label: string; meaning: string }[] = [
  {
    value: 'service',
    label: 'service',
    meaning: 'Moves money and gives points: a payment provider, a shop.',
  },
  { value: 'admin', label: 'admin', meaning: 'Everything an admin may do in this console.' },
  { value: 'user', label: 'user', meaning: 'What a signed-in user may do.' },
]

function CreateKeyForm({ onCreated }: { onCreated: (key: CreatedApiKey) => void }) {
  const [name, setName] = useState('')
  const [role, setRole] = useState<Role>('service')
  const [nameError, setNameError] = useState<string>()
  const [creating, setCreating] = useState(false)
  const [problem, setProblem] = useState<unknown>()

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (creating) return
    const trimmed = name.trim()
    if (!trimmed) {
      setNameError('Name the key after the service that will use it')
      return
    }
    setCreating(true)
    setProblem(undefined)
    try {
      onCreated(await must(coffer.POST('/api/v1/api-keys', { body: { name: trimmed, roles: [role] } })))
      setName('')
    } catch (error) {
      setProblem(error)
    } finally {
      setCreating(false)
    }
  }

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Title order={2} size="h4">
            Create a key
          </Title>
          <Group align="flex-start" wrap="wrap">
            <TextInput
              label="Name"
              placeholder="payments-gateway"
              value={name}
              onChange={(event) => {
                setName(event.currentTarget.value)
                setNameError(undefined)
              }}
              error={nameError}
              w={{ base: '100%', xs: 240 }}
            />
            <Select
              label="Role"
              data={ROLES.map(({ value, label }) => ({ value, label }))}
              description={ROLES.find((entry) => entry.value === role)?.meaning}
              value={role}
              onChange={(value) => value && setRole(value as Role)}
              allowDeselect={false}
              w={{ base: '100%', xs: 300 }}
            />
          </Group>
          <ProblemAlert error={problem} />
          <Group>
            <Button type="submit" loading={creating} disabled={creating}>
              Create key
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  )
}

function NewSecret({ created }: { created: CreatedApiKey }) {
  return (
    <Alert color="blue" variant="light" title={`Key “${created.name}” created`}>
      <Stack gap="xs" data-testid="api-key-secret">
        <Text size="sm" fw={600}>
          Copy it now: it is not shown again
        </Text>
        <Group gap="xs" wrap="wrap" align="center">
          <Code data-testid="api-key-secret-value" style={{ wordBreak: 'break-all' }}>
            {created.key}
          </Code>
          <CopyButton value={created.key}>
            {({ copied, copy }) => (
              <Button size="xs" variant="light" onClick={copy}>
                {copied ? 'Copied' : 'Copy'}
              </Button>
            )}
          </CopyButton>
        </Group>
      </Stack>
      <Text size="sm" mt="xs">
        Send it as <Code>Authorization: Bearer …</Code>. Coffer keeps only a hash of it.
      </Text>
    </Alert>
  )
}

function KeyRow({ apiKey, onRevoked }: { apiKey: ApiKey; onRevoked: () => void }) {
  const [revoking, setRevoking] = useState(false)
  const [problem, setProblem] = useState<unknown>()

  async function revoke() {
    setRevoking(true)
    setProblem(undefined)
    try {
      await must(coffer.DELETE('/api/v1/api-keys/{id}', { params: { path: { id: apiKey.id } }, body: {} }))
      onRevoked()
    } catch (error) {
      setProblem(error)
    } finally {
      setRevoking(false)
    }
  }

  return (
    <>
      <Table.Tr data-testid="api-key-row">
        <Table.Td>{apiKey.name}</Table.Td>
        <Table.Td>
          <Code>{apiKey.prefix}…</Code>
        </Table.Td>
        <Table.Td>{apiKey.roles.join(', ')}</Table.Td>
        <Table.Td>{formatDateTime(apiKey.createdAt)}</Table.Td>
        <Table.Td>
          {apiKey.revokedAt ? (
            <Badge color="gray" variant="light">
              revoked {formatDateTime(apiKey.revokedAt)}
            </Badge>
          ) : (
            <Badge color="coffer" variant="light">
              active
            </Badge>
          )}
        </Table.Td>
        <Table.Td>
          {!apiKey.revokedAt && (
            <Button
              size="xs"
              color="red"
              variant="light"
              loading={revoking}
              disabled={revoking}
              onClick={() => void revoke()}
              title={`Revoke the key ${apiKey.name}`}
            >
              Revoke
            </Button>
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

export function ApiKeysPage() {
  usePageTitle('API keys')
  const [created, setCreated] = useState<CreatedApiKey>()
  const keys = useResource(
    async () => (await must(coffer.GET('/api/v1/api-keys', { params: { query: { limit: 200 } } }))).items,
    [created],
  )

  return (
    <Stack gap="lg">
      <Title order={1}>API keys</Title>
      <Text c="dimmed" size="sm">
        Keys let services call Coffer without a person signing in.
      </Text>
      <CreateKeyForm onCreated={setCreated} />
      {created && <NewSecret created={created} />}
      <ProblemAlert error={keys.error} />
      {keys.loading && !keys.data && <PageLoader label="Loading API keys" />}
      {keys.data && keys.data.length === 0 && <Empty>No API keys yet.</Empty>}
      {keys.data && keys.data.length > 0 && (
        <Paper withBorder>
          <TableScroll minWidth={640} label="API keys">
            <Table striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Prefix</Table.Th>
                  <Table.Th>Roles</Table.Th>
                  <Table.Th>Created</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>Actions</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {keys.data.map((apiKey) => (
                  <KeyRow key={apiKey.id} apiKey={apiKey} onRevoked={keys.reload} />
                ))}
              </Table.Tbody>
            </Table>
          </TableScroll>
        </Paper>
      )}
    </Stack>
  )
}
