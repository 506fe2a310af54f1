import type { DownloadedFile, StatementJob } from '@coffer/client'
import { Alert, Button, Group, Paper, Progress, Select, Stack, Text, TextInput, Title } from '@mantine/core'
import { type FormEvent, useEffect, useRef, useState } from 'react'
import { coffer, fileNameOf, saveFile } from '../api'
import { PageLoader, ProblemAlert } from '../components'
import { browserTimeZone, calendarDay, nextDay } from '../dates'
import { useResource } from '../hooks'
import { usePageTitle } from '../usePageTitle'
import { loadMyWallets } from './WalletsPage'

type Format = 'csv' | 'pdf' | 'json'
const FORMATS: { value: Format; label: string }[] = [
  { value: 'csv', label: 'CSV' },
  { value: 'pdf', label: 'PDF' },
  { value: 'json', label: 'JSON' },
]
const POINTS_ACCOUNT = 'points'

/** What the last request became: a file in hand, or a job being followed until its file is ready. */
type Statement =
  | { kind: 'file'; file: DownloadedFile<Blob>; fallbackName: string }
  | { kind: 'job'; job: StatementJob; fallbackName: string }

function firstOfThisMonth(): string {
  const today = new Date()
  return calendarDay(new Date(today.getFullYear(), today.getMonth(), 1))
}

export function StatementsPage() {
  usePageTitle('Statements')
  const wallets = useResource(loadMyWallets, [])
  const [account, setAccount] = useState<string | null>(null)
  const [from, setFrom] = useState(firstOfThisMonth)
  const [to, setTo] = useState(() => calendarDay(new Date()))
  const [format, setFormat] = useState<Format>('csv')
  const [requesting, setRequesting] = useState(false)
  const [downloading, setDownloading] = useState(false)
  const [problem, setProblem] = useState<unknown>()
  const [periodError, setPeriodError] = useState<string>()
  const [statement, setStatement] = useState<Statement>()
  const polling = useRef<AbortController | null>(null)

  useEffect(() => () => polling.current?.abort(), [])
  useEffect(() => {
    if (account === null && wallets.data?.[0]) setAccount(wallets.data[0].id)
  }, [account, wallets.data])

  const accountOptions = [
    ...(wallets.data ?? []).map((wallet) => ({ value: wallet.id, label: `${wallet.currency} wallet` })),
    { value: POINTS_ACCOUNT, label: 'Points' },
  ]

  async function request(event: FormEvent) {
    event.preventDefault()
    if (requesting) return
    if (!account) return
    if (!from || !to || from > to) {
      setPeriodError('Pick a period whose "From" is on or before its "To"')
      return
    }
    setPeriodError(undefined)
    polling.current?.abort()
    setProblem(undefined)
    setStatement(undefined)
    setRequesting(true)

    const label = accountOptions.find((option) => option.value === account)?.label ?? 'statement'
    const fallbackName = `${label.replace(/\s+/g, '-').toLowerCase()}-${from}-${to}.${format}`
    // The screen's "To" includes that day; the API's `to` is exclusive.
    const query = { from, to: nextDay(to), tz: browserTimeZone(), format }
    try {
      const answer =
        account === POINTS_ACCOUNT
          ? await coffer.requestStatement('/api/v1/points/statement', { params: { query }, parseAs: 'blob' })
          : await coffer.requestStatement('/api/v1/wallets/{id}/statement', {
              params: { path: { id: account }, query },
              parseAs: 'blob',
            })
      if (answer.kind === 'file') {
        setStatement({ kind: 'file', file: answer.file, fallbackName })
        setRequesting(false)
        return
      }
      setStatement({ kind: 'job', job: answer.job, fallbackName })
      const controller = new AbortController()
      polling.current = controller
      const finished = await coffer.waitForStatementJob(answer.job.id, {
        pollMs: Math.min(Math.max(answer.retryAfterMs ?? 1000, 500), 2000),
        signal: controller.signal,
        onProgress: (job) => setStatement({ kind: 'job', job, fallbackName }),
      })
      setStatement({ kind: 'job', job: finished, fallbackName })
    } catch (error) {
      if (!(error instanceof DOMException && error.name === 'AbortError')) setProblem(error)
    } finally {
      setRequesting(false)
    }
  }

  async function download() {
    if (!statement || downloading) return
    setDownloading(true)
    setProblem(undefined)
    try {
      if (statement.kind === 'file') {
        saveFile(statement.file.body, fileNameOf(statement.file, statement.fallbackName))
      } else {
        const file = await coffer.download('/api/v1/statements/{jobId}/file', {
          params: { path: { jobId: statement.job.id } },
          parseAs: 'blob',
        })
        saveFile(file.body, fileNameOf(file, statement.job.file?.filename ?? statement.fallbackName))
      }
    } catch (error) {
      setProblem(error)
    } finally {
      setDownloading(false)
    }
  }

  const job = statement?.kind === 'job' ? statement.job : undefined
  const ready = statement?.kind === 'file' || job?.status === 'done'
  return (
    <Stack gap="lg">
      <Title order={1}>Statements</Title>
      <ProblemAlert error={wallets.error} />
      {wallets.loading && !wallets.data && <PageLoader label="Loading accounts" />}
      <Paper withBorder p="md" maw={640}>
        <form onSubmit={request} noValidate>
          <Stack gap="md">
            <Select
              label="Account"
              data={accountOptions}
              value={account}
              onChange={setAccount}
              allowDeselect={false}
            />
            <Group grow align="flex-start" wrap="wrap">
              <TextInput
                label="From"
                type="date"
                value={from}
                onChange={(event) => setFrom(event.currentTarget.value)}
                miw={150}
              />
              <TextInput
                label="To"
                type="date"
                description="Included"
                value={to}
                onChange={(event) => setTo(event.currentTarget.value)}
                error={periodError}
                miw={150}
              />
            </Group>
            <Select
              label="Format"
              data={FORMATS}
              value={format}
              onChange={(value) => value && setFormat(value as Format)}
              allowDeselect={false}
            />
            <Text size="sm" c="dimmed">
              Periods of up to 15 days are ready at once; longer ones are prepared in the background.
            </Text>
            <Group>
              <Button type="submit" loading={requesting} disabled={requesting || !account}>
                Request statement
              </Button>
            </Group>
          </Stack>
        </form>
      </Paper>
      <ProblemAlert error={problem} />
      {job && job.status !== 'failed' && (
        <Paper withBorder p="md" maw={640}>
          <Stack gap="xs">
            <Text size="sm">
              {job.status === 'queued'
                ? 'Waiting for a worker…'
                : job.status === 'running'
                  ? 'Preparing your statement…'
                  : 'Prepared.'}{' '}
              {job.progress.linesTotal !== null &&
                `${job.progress.linesDone} of ${job.progress.linesTotal} lines`}
            </Text>
            {/* Left at 100% once done: a job that finishes between two polls still shows it ran. */}
            <Progress
              value={job.status === 'done' ? 100 : Math.round(job.progress.percent)}
              aria-label="Statement progress"
              striped={job.status !== 'done'}
              animated={job.status !== 'done'}
              size="lg"
            />
          </Stack>
        </Paper>
      )}
      {job?.status === 'failed' && (
        <Alert color="red" variant="light" role="alert">
          {job.error ?? 'The statement could not be prepared. Request it again.'}
        </Alert>
      )}
      {ready && (
        <Paper withBorder p="md" maw={640}>
          <Group justify="space-between" wrap="wrap">
            <Text size="sm" role="status">
              Your statement is ready.
            </Text>
            <Button onClick={() => void download()} loading={downloading} disabled={downloading}>
              Download statement
            </Button>
          </Group>
        </Paper>
      )}
    </Stack>
  )
}
