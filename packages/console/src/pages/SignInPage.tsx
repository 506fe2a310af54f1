import { Alert, Anchor, Button, PasswordInput, Stack, Text, TextInput } from '@mantine/core'
import { type FormEvent, useState } from 'react'
import { ProblemAlert } from '../components'
import { Link } from '../router'
import { useSession } from '../session'
import { AuthLayout } from './AuthLayout'

export function SignInPage({ notice }: { notice?: string | undefined }) {
  const { signIn } = useSession()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [submitting, setSubmitting] = useState(false)
  const [problem, setProblem] = useState<unknown>()

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (submitting) return
    setSubmitting(true)
    setProblem(undefined)
    try {
      await signIn(email.trim(), password)
    } catch (error) {
      setProblem(error)
      setSubmitting(false)
    }
  }

  return (
    <AuthLayout title="Sign in">
      {notice && (
        <Alert color="blue" variant="light">
          {notice}
        </Alert>
      )}
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <TextInput
            label="Email"
            type="email"
            autoComplete="username"
            value={email}
            onChange={(event) => setEmail(event.currentTarget.value)}
          />
          <PasswordInput
            label="Password"
            autoComplete="current-password"
            value={password}
            onChange={(event) => setPassword(event.currentTarget.value)}
          />
          <ProblemAlert error={problem} />
          <Button type="submit" loading={submitting} disabled={submitting}>
            Sign in
          </Button>
        </Stack>
      </form>
      <Text size="sm">
        New to Coffer?{' '}
        <Anchor component={Link} to="/sign-up">
          Create an account
        </Anchor>
      </Text>
    </AuthLayout>
  )
}
