import { Button, Group, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { type FormEvent, useState } from 'react'
import { coffer, must } from '../../api'
import { Empty, formatDateTime, PageLoader, ProblemAlert, TableScroll } from '../../components'
import { useResource } from '../../hooks'
import { usePageTitle } from '../../usePageTitle'

const CURRENCY_CODE = /^[A-Za-z0-9]{2,12}$/
// A rate is an exact positive decimal: it stays a string, as amounts do.
const RATE = /^(?:0|[1-9]\d*)(?:\.\d+)?$/

interface RateErrors {
  base?: string
  quote?: string
  rate?: string
}

function SetRateForm({ onSet }: { onSet: () => void }) {
  const [base, setBase] = useState('')
  const [quote, setQuote] = useState('')
  const [rate, setRate] = useState('')
  const [errors, setErrors] = useState<RateErrors>({})
  const [saving, setSaving] = useState(false)
  const [problem, setProblem] = useState<unknown>()
  const [saved, setSaved] = useState<string>()

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (saving) return
    const found: RateErrors = {}
    const baseCode = base.trim().toUpperCase()
    const quoteCode = quote.trim().toUpperCase()
    const rateText = rate.trim()
    if (!CURRENCY_CODE.test(baseCode)) found.base = 'A currency code, e.g. USD'
    if (!CURRENCY_CODE.test(quoteCode)) found.quote = 'A currency code, e.g. EUR'
    else if (quoteCode === baseCode) found.quote = 'The quote currency must differ from the base'
    if (!RATE.test(rateText) || /^0(?:\.0*)?$/.test(rateText)) found.rate = 'A positive decimal, e.g. 0.9215'
    setErrors(found)
    if (Object.keys(found).length > 0) return

    setSaving(true)
    setProblem(undefined)
    setSaved(undefined)
    try {
      const answer = await must(
        coffer.PUT('/api/v1/fx-rates/{base}/{quote}', {
          params: { path: { base: baseCode, quote: quoteCode } },
          body: { rate: rateText },
        }),
      )
      setSaved(`1 ${answer.base} = ${answer.rate} ${answer.quote}`)
      setRate('')
      onSet()
    } catch (error) {
      setProblem(error)
    } finally {
      setSaving(false)
    }
  }

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Title order={2} size="h4">
            Set a rate
          </Title>
          <Text size="sm" c="dimmed">
            How many units of the quote currency one unit of the base currency buys.
          </Text>
          <Group align="flex-start" wrap="wrap">
            <TextInput
              label="Base"
              placeholder="USD"
              value={base}
              onChange={(event) => setBase(event.currentTarget.value)}
              error={errors.base}
              w={{ base: '100%', xs: 120 }}
            />
            <TextInput
              label="Quote"
              placeholder="EUR"
              value={quote}
              onChange={(event) => setQuote(event.currentTarget.value)}
              error={errors.quote}
              w={{ base: '100%', xs: 120 }}
            />
            <TextInput
              label="Rate"
              inputMode="decimal"
              placeholder="0.9215"
              value={rate}
              onChange={(event) => setRate(event.currentTarget.value)}
              error={errors.rate}
              w={{ base: '100%', xs: 180 }}
            />
          </Group>
          <ProblemAlert error={problem} />
          {saved && (
            <Text size="sm" c="coffer.9" role="status">
              Rate set: {saved}
            </Text>
          )}
          <Group>
            <Button type="submit" loading={saving} disabled={saving}>
              Set rate
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  )
}

export function FxRatesPage() {
  usePageTitle('FX rates')
  const rates = useResource(async () => (await must(coffer.GET('/api/v1/fx-rates'))).items, [])

  return (
    <Stack gap="lg">
      <Title order={1}>FX rates</Title>
      <ProblemAlert error={rates.error} />
      {rates.loading && !rates.data && <PageLoader label="Loading rates" />}
      {rates.data && rates.data.length === 0 && (
        <Empty>No rates yet: exchanges need one per direction.</Empty>
      )}
      {rates.data && rates.data.length > 0 && (
        <Paper withBorder>
          <TableScroll minWidth={420} label="FX rates">
            <Table striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Base</Table.Th>
                  <Table.Th>Quote</Table.Th>
                  <Table.Th ta="right">Rate</Table.Th>
                  <Table.Th>Updated</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rates.data.map((rate) => (
                  <Table.Tr key={`${rate.base}/${rate.quote}`} data-testid="fx-rate-row">
                    <Table.Td>{rate.base}</Table.Td>
                    <Table.Td>{rate.quote}</Table.Td>
                    <Table.Td ta="right" ff="monospace">
                      {rate.rate}
                    </Table.Td>
                    <Table.Td>{formatDateTime(rate.updatedAt)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </TableScroll>
        </Paper>
      )}
      <SetRateForm onSet={rates.reload} />
    </Stack>
  )
}
