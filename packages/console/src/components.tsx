import { Alert, Badge, Center, Loader, Table, Text } from '@mantine/core'
import type { ReactNode } from 'react'
import { describeProblem } from './api'
import { useCurrencies } from './currencies'
import { formatAmount, isNegative } from './money'
import type { Wallet } from './types'

/** A problem in words, from its detail; role=alert so it is announced and tests can find it. */
export function ProblemAlert({ error, title }: { error: unknown; title?: string }) {
  if (error === undefined || error === null) return null
  return (
    <Alert color="red" variant="light" role="alert" title={title}>
      {describeProblem(error)}
    </Alert>
  )
}

export function PageLoader({ label }: { label: string }) {
  return (
    <Center py="xl" role="status" aria-label={label}>
      <Loader />
    </Center>
  )
}

/** An amount as the API sent it, padded to the currency's decimals; debits in red. */
export function Amount({
  value,
  currency,
  signed = false,
  testId,
}: {
  value: string
  currency: string
  signed?: boolean
  testId?: string
}) {
  const { decimalsOf } = useCurrencies()
  const text = formatAmount(value, decimalsOf(currency))
  const color = signed ? (isNegative(value) ? 'red.9' : 'coffer.9') : undefined
  return (
    <Text span c={color} style={{ fontVariantNumeric: 'tabular-nums' }} data-testid={testId}>
      {signed && !isNegative(value) ? `+${text}` : text}
    </Text>
  )
}

const STATUS_COLORS: Record<Wallet['status'], string> = { active: 'coffer', frozen: 'blue', closed: 'gray' }

export function WalletStatusBadge({ status, testId }: { status: Wallet['status']; testId?: string }) {
  return (
    <Badge color={STATUS_COLORS[status]} variant="light" data-testid={testId}>
      {status}
    </Badge>
  )
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <Text c="dimmed" py="md">
      {children}
    </Text>
  )
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return ''
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return ''
  return new Date(iso).toLocaleDateString(undefined, { dateStyle: 'medium' })
}

/**
 * A table that scrolls sideways on a phone. The scrolling region takes keyboard focus and has a
 * name, so it can be scrolled without a mouse and is announced for what it holds.
 */
export function TableScroll({
  minWidth,
  label,
  children,
}: {
  minWidth: number
  label: string
  children: ReactNode
}) {
  return (
    <Table.ScrollContainer type="native" minWidth={minWidth} tabIndex={0} role="region" aria-label={label}>
      {children}
    </Table.ScrollContainer>
  )
}
