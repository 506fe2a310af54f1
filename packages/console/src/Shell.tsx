import { AppShell, Burger, Button, Group, NavLink, Text, Title } from '@mantine/core'
import { useDisclosure } from '@mantine/hooks'
import type { ReactNode } from 'react'
import { Link, useLocation } from './router'
import { useSession, useSignedIn } from './session'

interface NavItem {
  to: string
  label: string
}

const USER_NAV: NavItem[] = [
  { to: '/wallets', label: 'Wallets' },
  { to: '/move', label: 'Move money' },
  { to: '/holds', label: 'Holds' },
  { to: '/points', label: 'Points' },
  { to: '/statements', label: 'Statements' },
]

const ADMIN_NAV: NavItem[] = [
  { to: '/admin/users', label: 'Users' },
  { to: '/admin/api-keys', label: 'API keys' },
  { to: '/admin/fx-rates', label: 'FX rates' },
  { to: '/admin/operations', label: 'Operations' },
]

function isCurrent(itemPath: string, path: string): boolean {
  return path === itemPath || path.startsWith(`${itemPath}/`)
}

export function Shell({ isAdmin, children }: { isAdmin: boolean; children: ReactNode }) {
  const [navOpen, { toggle, close }] = useDisclosure(false)
  const { path } = useLocation()
  const { signOut } = useSession()
  const { me } = useSignedIn()

  const navLink = (item: NavItem) => (
    <NavLink
      key={item.to}
      component={Link}
      to={item.to}
      label={item.label}
      active={isCurrent(item.to, path)}
      aria-current={isCurrent(item.to, path) ? 'page' : undefined}
      onClick={close}
    />
  )

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !navOpen } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger
              opened={navOpen}
              onClick={toggle}
              hiddenFrom="sm"
              size="sm"
              aria-label="Toggle navigation"
              aria-expanded={navOpen}
            />
            <Title order={2} size="h4">
              Coffer
            </Title>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <Text size="sm" c="dimmed" visibleFrom="sm" truncate maw={260}>
              {me.user?.email ?? me.id}
            </Text>
            <Button variant="default" size="xs" onClick={() => void signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main">
        {USER_NAV.map(navLink)}
        {isAdmin && (
          <>
            <Text size="xs" fw={700} c="dimmed" tt="uppercase" mt="md" mb={4} px="sm">
              Admin
            </Text>
            {ADMIN_NAV.map(navLink)}
          </>
        )}
      </AppShell.Navbar>
      <AppShell.Main>{children}</AppShell.Main>
    </AppShell>
  )
}
