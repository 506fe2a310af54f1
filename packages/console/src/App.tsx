import { Center, Loader } from '@mantine/core'
import { type ReactNode, useEffect } from 'react'
import { CurrenciesProvider } from './currencies'
import { ApiKeysPage } from './pages/admin/ApiKeysPage'
import { FxRatesPage } from './pages/admin/FxRatesPage'
import { OperationsPage } from './pages/admin/OperationsPage'
import { UserPage } from './pages/admin/UserPage'
import { UsersPage } from './pages/admin/UsersPage'
import { HoldsPage } from './pages/HoldsPage'
import { MoveMoneyPage } from './pages/MoveMoneyPage'
import { NotFoundPage } from './pages/NotFoundPage'
import { PointsPage } from './pages/PointsPage'
import { SignInPage } from './pages/SignInPage'
import { SignUpPage } from './pages/SignUpPage'
import { StatementsPage } from './pages/StatementsPage'
import { TransactionPage } from './pages/TransactionPage'
import { WalletPage } from './pages/WalletPage'
import { WalletsPage } from './pages/WalletsPage'
import { matchPath, navigate, useLocation } from './router'
import { Shell } from './Shell'
import { useSession } from './session'

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to])
  return null
}

type Params = Record<string, string>
interface Route {
  path: string
  admin?: boolean
  render: (params: Params) => ReactNode
}

const SIGNED_IN_ROUTES: Route[] = [
  { path: '/wallets', render: () => <WalletsPage /> },
  { path: '/wallets/:id', render: ({ id = '' }) => <WalletPage key={id} walletId={id} /> },
  { path: '/transactions/:id', render: ({ id = '' }) => <TransactionPage key={id} transactionId={id} /> },
  { path: '/move', render: () => <MoveMoneyPage /> },
  { path: '/holds', render: () => <HoldsPage /> },
  { path: '/points', render: () => <PointsPage /> },
  { path: '/statements', render: () => <StatementsPage /> },
  { path: '/admin/users', admin: true, render: () => <UsersPage /> },
  { path: '/admin/users/:id', admin: true, render: ({ id = '' }) => <UserPage key={id} userId={id} /> },
  { path: '/admin/api-keys', admin: true, render: () => <ApiKeysPage /> },
  { path: '/admin/fx-rates', admin: true, render: () => <FxRatesPage /> },
  { path: '/admin/operations', admin: true, render: () => <OperationsPage /> },
]

function signedInPage(path: string, isAdmin: boolean): ReactNode {
  for (const route of SIGNED_IN_ROUTES) {
    const params = matchPath(route.path, path)
    if (params && (!route.admin || isAdmin)) return route.render(params)
  }
  return <NotFoundPage />
}

/** Only a path inside the console: ?next= must never send anyone to another site. */
function safeNext(next: string | null): string {
  return next?.startsWith('/') && !next.startsWith('//') ? next : '/wallets'
}

export function App() {
  const { state } = useSession()
  const { path, query } = useLocation()

  if (state.status === 'checking') {
    return (
      <Center h="100vh" role="status" aria-label="Checking your session">
        <Loader />
      </Center>
    )
  }

  if (state.status === 'signed-out') {
    if (path === '/sign-in') return <SignInPage notice={state.reason} />
    if (path === '/sign-up') return <SignUpPage />
    const next = path === '/' ? '' : `?next=${encodeURIComponent(path + window.location.search)}`
    return <Redirect to={`/sign-in${next}`} />
  }

  // After signing in, the page asked for before it (kept in ?next=) or the wallets.
  if (path === '/sign-in') return <Redirect to={safeNext(query.get('next'))} />
  if (path === '/' || path === '/sign-up') return <Redirect to="/wallets" />
  return (
    <CurrenciesProvider>
      <Shell isAdmin={state.isAdmin}>{signedInPage(path, state.isAdmin)}</Shell>
    </CurrenciesProvider>
  )
}
