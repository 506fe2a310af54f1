import { Anchor, Stack, Text, Title } from '@mantine/core'
import { Link } from '../router'
import { usePageTitle } from '../usePageTitle'

export function NotFoundPage() {
  usePageTitle('Not found')
  return (
    <Stack gap="md">
      <Title order={1}>Page not found</Title>
      <Text>
        There is no such page in the console, or it is for admins only.{' '}
        <Anchor component={Link} to="/wallets">
          Back to your wallets
        </Anchor>
      </Text>
    </Stack>
  )
}
