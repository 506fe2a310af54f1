import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react'
import { coffer, hasStoredSession, must, onTokensChange } from './api'
import type { Me } from './types'

export type SessionState =
  | { status: 'checking' }
  | { status: 'signed-out'; reason?: string }
  | { status: 'signed-in'; me: Me; isAdmin: boolean }

interface Session {
  state: SessionState
  signIn: (email: string, password: string) => Promise<void>
  signUp: (details: { email: string; password: string; name?: string }) => Promise<void>
  signOut: () => Promise<void>
}

const SessionContext = createContext<Session | undefined>(undefined)

function signedIn(me: Me): SessionState {
  return { status: 'signed-in', me, isAdmin: me.roles.includes('admin') }
}

async function loadMe(): Promise<Me> {
  return must(coffer.GET('/api/v1/auth/me'))
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>(() =>
    hasStoredSession() ? { status: 'checking' } : { status: 'signed-out' },
  )

  // A stored session is only trusted once /auth/me answers with it (the refresh token may be spent).
  useEffect(() => {
    if (!hasStoredSession()) return
    loadMe().then(
      (me) => setState(signedIn(me)),
      () => setState({ status: 'signed-out', reason: 'Your session has ended. Sign in again.' }),
    )
  }, [])

  // The client drops the tokens when a refresh fails: that is the end of the session, wherever it happens.
  useEffect(
    () =>
      onTokensChange((tokens) => {
        if (tokens === null) {
          setState((current) =>
            current.status === 'signed-in'
              ? { status: 'signed-out', reason: 'Your session has ended. Sign in again.' }
              : current,
          )
        }
      }),
    [],
  )

  const signIn = useCallback(async (email: string, password: string) => {
    await coffer.signIn(email, password)
    setState(signedIn(await loadMe()))
  }, [])

  const signUp = useCallback(async (details: { email: string; password: string; name?: string }) => {
    await coffer.signUp(details)
    setState(signedIn(await loadMe()))
  }, [])

  const signOut = useCallback(async () => {
    try {
      await coffer.signOut()
    } finally {
      // Signed out locally even when the server could not be told: the tokens are gone from this tab.
      setState({ status: 'signed-out' })
    }
  }, [])

  const session = useMemo(() => ({ state, signIn, signUp, signOut }), [state, signIn, signUp, signOut])
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>
}

export function useSession(): Session {
  const session = useContext(SessionContext)
  if (!session) throw new Error('useSession outside SessionProvider')
  return session
}

/** The signed-in user's view; pages behind the shell may rely on it. */
export function useSignedIn(): { me: Me; isAdmin: boolean } {
  const { state } = useSession()
  if (state.status !== 'signed-in') throw new Error('useSignedIn while signed out')
  return state
}
