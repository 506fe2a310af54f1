import { readdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { parse } from 'csv-parse/sync'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AccessibilityAudit } from './accessibility.js'
import { launchChromium, newPersonContext, OUTPUT_DIR, recordPageErrors, saveScreenshot } from './chromium.js'
import { ADMIN_EMAIL, ADMIN_PASSWORD, type CofferServer, startCoffer } from './coffer-server.js'
import {
  choose,
  eventually,
  field,
  goToWalletPage,
  heading,
  historyRows,
  historyTexts,
  navLink,
  openWallet,
  recordPosts,
  SETTLE_MS,
  signIn,
  signUp,
  textOf,
  utcDay,
} from './console-ui.js'

/**
 * Issue 17's browser scenario, as people would do it: two users and an admin, each in a browser
 * context of their own, against a real `coffer start` on the embedded database. The tests run in
 * order and build on each other (A's deposit is in B's transfer, in the statement, ...).
 */

const ALICE = { email: 'alice@example.com', name: 'Alice Example' }
const BOB = { email: 'bob@example.com', name: 'Bob Example' }
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

interface StatementRow {
  date: string
  type: string
  description: string
  amount: string
  balance_after: string
  currency: string
}

describe('the console, end to end', () => {
  let server: CofferServer
  let browser: Browser
  let alice: Page
  let bob: Page
  let admin: Page
  const audit = new AccessibilityAudit()
  const auditedLabels = new Set<string>()
  const pageErrors: string[] = []
  let aliceWalletId = ''
  let bobWalletId = ''

  /** axe once per distinct page (by label): every page visited, without re-running it on revisits. */
  async function checkAccessibility(page: Page, label: string): Promise<void> {
    if (auditedLabels.has(label)) return
    auditedLabels.add(label)
    await audit.check(page, label)
  }

  /**
   * A step of the scenario: each builds on the ones before, so after a failure the rest are
   * skipped (naming it) rather than each timing out on a page that is not where it should be.
   */
  let failedStep: string | undefined
  function step(name: string, body: () => Promise<void>): void {
    it(name, async (context) => {
      if (failedStep !== undefined) context.skip(`the earlier step "${failedStep}" failed`)
      context.onTestFailed(async () => {
        failedStep ??= name
        // What each person was looking at, for whoever reads the failure.
        for (const [who, page] of [
          ['alice', alice],
          ['bob', bob],
          ['admin', admin],
        ] as const) {
          if (page.isClosed()) continue
          const file = await saveScreenshot(page, `failed-${who}`)
          console.info(`${who} was at ${page.url()}: ${file}`)
        }
      })
      await body()
    })
  }

  /** A passing run leaves no failed-*.png of an earlier run to mislead its reader. */
  async function removeFailureScreenshots(): Promise<void> {
    const stale = (await readdir(OUTPUT_DIR).catch(() => [])).filter((name) => name.startsWith('failed-'))
    await Promise.all(stale.map((name) => rm(path.join(OUTPUT_DIR, name), { force: true })))
  }

  async function personPage(): Promise<Page> {
    const context = await newPersonContext(browser, server.baseUrl)
    const page = await context.newPage()
    recordPageErrors(page, pageErrors)
    return page
  }

  async function walletFigures(page: Page) {
    return {
      balance: await textOf(page.getByTestId('wallet-balance')),
      available: await textOf(page.getByTestId('wallet-available')),
      held: await textOf(page.getByTestId('wallet-held')),
    }
  }

  async function goToAliceWallet(): Promise<void> {
    await alice.goto(`/console/wallets/${aliceWalletId}`)
    await heading(alice, 'USD wallet').waitFor()
  }

  beforeAll(async () => {
    await removeFailureScreenshots()
    server = await startCoffer()
    browser = await launchChromium()
    alice = await personPage()
    bob = await personPage()
    admin = await personPage()
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  step('sends a visitor to Sign in, and from there to Create your account', async () => {
    await alice.goto('/console/')
    await alice.waitForURL(/\/console\/sign-in$/)
    await heading(alice, 'Sign in').waitFor()
    await checkAccessibility(alice, 'sign in')
    await alice.getByRole('link', { name: 'Create an account', exact: true }).click()
    await alice.waitForURL(/\/console\/sign-up$/)
    await checkAccessibility(alice, 'sign up')
  })

  step('A signs up, lands on Wallets, and sees no admin pages', async () => {
    await signUp(alice, ALICE.email, ALICE.name)
    await checkAccessibility(alice, 'wallets (none yet)')
    for (const name of ['Wallets', 'Move money', 'Holds', 'Points', 'Statements']) {
      await navLink(alice, name).waitFor()
    }
    for (const name of ['Users', 'API keys', 'FX rates', 'Operations']) {
      expect(await navLink(alice, name).count(), `${name} in a user's nav`).toBe(0)
    }
    await alice.getByRole('button', { name: 'Sign out', exact: true }).waitFor()
  })

  step('A opens a USD wallet: its card shows Balance, Available and Held at 0.00', async () => {
    const card = await openWallet(alice, 'USD')
    const text = await textOf(card)
    for (const part of ['USD', 'Balance', 'Available', 'Held', 'active', '0.00']) {
      expect(text, 'the USD wallet card').toContain(part)
    }
    aliceWalletId = await goToWalletPage(alice, 'USD')
    await checkAccessibility(alice, 'wallet page')
    await eventually(() => walletFigures(alice)).toEqual({ balance: '0.00', available: '0.00', held: '0.00' })
    await eventually(() => textOf(alice.getByTestId('wallet-status'))).toBe('active')
    await alice.getByText('Balance over time').first().waitFor()
    await heading(alice, 'History').waitFor()
  })

  step('A deposits 100.00 from the wallet page and sees the balance 100.00', async () => {
    await alice.getByRole('link', { name: 'Deposit', exact: true }).click()
    await alice.waitForURL(/\/console\/move\?/)
    const query = new URL(alice.url()).searchParams
    expect({ wallet: query.get('wallet'), kind: query.get('kind') }).toEqual({
      wallet: aliceWalletId,
      kind: 'deposit',
    })
    await heading(alice, 'Move money').waitFor()
    await checkAccessibility(alice, 'move money (deposit)')
    await field(alice, 'Amount').fill('100.00')
    await field(alice, 'Description').fill('Salary')
    await alice.getByRole('button', { name: 'Deposit', exact: true }).click()
    await alice.getByRole('status').filter({ hasText: 'Deposit recorded' }).waitFor()

    await goToAliceWallet()
    await eventually(() => walletFigures(alice)).toEqual({
      balance: '100.00',
      available: '100.00',
      held: '0.00',
    })
    await alice.goto('/console/wallets')
    await eventually(() => textOf(alice.getByTestId('wallet-card-USD'))).toContain('100.00')
  })

  step('B signs up in another browser, opens a USD wallet and reads its id', async () => {
    await bob.goto('/console/sign-up')
    await signUp(bob, BOB.email, BOB.name)
    await openWallet(bob, 'USD')
    bobWalletId = await goToWalletPage(bob, 'USD')
    expect(bobWalletId).toMatch(UUID)
    expect(bobWalletId).not.toBe(aliceWalletId)
  })

  step("A transfers 25.50 to B's wallet id; B reloads and sees 25.50 and the transfer", async () => {
    await goToAliceWallet()
    await alice.getByRole('link', { name: 'Transfer', exact: true }).click()
    await alice.waitForURL(/\/console\/move\?/)
    expect(new URL(alice.url()).searchParams.get('kind')).toBe('transfer')
    await field(alice, 'Destination wallet ID').fill(bobWalletId)
    await field(alice, 'Amount').fill('25.50')
    await field(alice, 'Description').fill('Dinner')
    await checkAccessibility(alice, 'move money (transfer)')
    await alice.getByRole('button', { name: 'Send transfer', exact: true }).click()
    await alice.getByRole('status').filter({ hasText: 'Transfer sent' }).waitFor()

    await bob.reload()
    await heading(bob, 'USD wallet').waitFor()
    await eventually(() => textOf(bob.getByTestId('wallet-balance'))).toBe('25.50')
    await eventually(() => historyTexts(bob)).toEqual([expect.stringMatching(/transfer.*25\.50/is)])

    await goToAliceWallet()
    await eventually(() => textOf(alice.getByTestId('wallet-balance'))).toBe('74.50')
  })

  step("filters A's history by type and by dates", async () => {
    await goToAliceWallet()
    await eventually(() => historyRows(alice).count()).toBe(2)

    await choose(alice, 'Type', /^transfer$/i)
    await alice.getByRole('button', { name: 'Apply filters', exact: true }).click()
    await eventually(() => historyTexts(alice)).toEqual([expect.stringMatching(/transfer.*25\.50/is)])
    expect((await historyTexts(alice)).some((row) => /deposit/i.test(row))).toBe(false)

    await choose(alice, 'Type', /^All types$/)
    await field(alice, 'From').fill('2020-01-01')
    await field(alice, 'To').fill('2020-01-31')
    await alice.getByRole('button', { name: 'Apply filters', exact: true }).click()
    await eventually(() => historyRows(alice).count()).toBe(0)

    // The same filter over today brings both rows back: the empty range above was the dates'
    // doing, not a filter that shows nothing.
    const today = utcDay()
    await field(alice, 'From').fill(today)
    await field(alice, 'To').fill(today)
    await alice.getByRole('button', { name: 'Apply filters', exact: true }).click()
    await eventually(() => historyRows(alice).count()).toBe(2)
  })

  step('a double click on Deposit posts once', async () => {
    const deposits = recordPosts(alice, new RegExp(`/api/v1/wallets/${aliceWalletId}/deposits$`))
    await alice.goto(`/console/move?wallet=${aliceWalletId}&kind=deposit`)
    await heading(alice, 'Move money').waitFor()
    await field(alice, 'Amount').fill('10.00')
    await alice.getByRole('button', { name: 'Deposit', exact: true }).dblclick()
    await alice.getByRole('status').filter({ hasText: 'Deposit recorded' }).waitFor()

    await goToAliceWallet()
    await eventually(() => textOf(alice.getByTestId('wallet-balance'))).toBe('84.50')
    await eventually(() => historyRows(alice).count()).toBe(3)
    expect((await historyTexts(alice)).filter((row) => /deposit/i.test(row))).toHaveLength(2)
    // By now a second click's request would long have left: both clicks came within milliseconds.
    expect(deposits.map((request) => request.headers()['idempotency-key'])).toEqual([expect.any(String)])
  })

  step(
    'an amount with more decimals than USD has is refused under the field, and nothing is sent',
    async () => {
      await alice.goto(`/console/move?wallet=${aliceWalletId}&kind=deposit`)
      await heading(alice, 'Move money').waitFor()
      const posts = recordPosts(alice, /^\/api\//)
      const amount = field(alice, 'Amount')
      await amount.fill('1.234')
      await alice.getByRole('button', { name: 'Deposit', exact: true }).click()
      await eventually(() => amount.getAttribute('aria-invalid')).toBe('true')
      // "Under the field": the message the input is described by, as Mantine's error slot is.
      const describedBy = ((await amount.getAttribute('aria-describedby')) ?? '').split(/\s+/).filter(Boolean)
      const messages: string[] = []
      for (const id of describedBy) messages.push(await textOf(alice.locator(`[id="${id}"]`)))
      const message = messages.join(' ').trim()
      expect(message, 'the Amount field’s error message').not.toBe('')
      console.info(`the console's message for 1.234 USD: ${message}`)
      expect(await alice.getByRole('status').filter({ hasText: 'Deposit recorded' }).count()).toBe(0)
      expect(posts.map((request) => request.url())).toEqual([])
    },
  )

  step('A downloads a CSV statement for today and its rows are the deposits and the transfer', async () => {
    await navLink(alice, 'Statements').click()
    await heading(alice, 'Statements').waitFor()
    await checkAccessibility(alice, 'statements')
    await choose(alice, 'Account', /^USD wallet$/)
    // A person's period for today: To is the last day included (the API's `to` is exclusive,
    // which is the console's business to translate).
    const today = utcDay()
    await field(alice, 'From').fill(today)
    await field(alice, 'To').fill(today)
    await choose(alice, 'Format', /^CSV$/)
    await alice.getByRole('button', { name: 'Request statement', exact: true }).click()
    const downloadButton = alice.getByRole('button', { name: 'Download statement', exact: true })
    await downloadButton.waitFor({ timeout: 60_000 })
    const [download] = await Promise.all([alice.waitForEvent('download'), downloadButton.click()])
    expect(download.suggestedFilename()).toMatch(/\.csv$/i)
    const file = path.join(OUTPUT_DIR, `flow-${download.suggestedFilename()}`)
    await download.saveAs(file)

    const rows = parse(await readFile(file, 'utf8'), {
      columns: true,
      skip_empty_lines: true,
    }) as StatementRow[]
    expect(
      rows.map(({ type, description, amount, balance_after, currency }) => ({
        type,
        description,
        amount,
        balance_after,
        currency,
      })),
    ).toEqual([
      { type: 'deposit', description: 'Salary', amount: '100.00', balance_after: '100.00', currency: 'USD' },
      { type: 'transfer', description: 'Dinner', amount: '-25.50', balance_after: '74.50', currency: 'USD' },
      { type: 'deposit', description: '', amount: '10.00', balance_after: '84.50', currency: 'USD' },
    ])
    for (const row of rows) expect(row.date.startsWith(today), row.date).toBe(true)
    // The closing balance is the last line's balance after; the amounts add up to it from 0.00.
    const cents = rows.reduce((sum, row) => sum + BigInt(row.amount.replace('.', '')), 0n)
    expect(cents).toBe(8450n)
    expect(rows.at(-1)?.balance_after).toBe('84.50')
  })

  step(
    'a statement longer than the immediate limit is a job: a progress bar, then a PDF to download',
    async () => {
      await heading(alice, 'Statements').waitFor()
      const today = utcDay()
      // 20 days: past the 15 answered at once (STATEMENT_IMMEDIATE_MAX_DAYS), so the server answers 202.
      await field(alice, 'From').fill(utcDay(-19))
      await field(alice, 'To').fill(today)
      await choose(alice, 'Format', /^PDF$/)
      const [answer] = await Promise.all([
        alice.waitForResponse(
          (response) => new URL(response.url()).pathname === `/api/v1/wallets/${aliceWalletId}/statement`,
          { timeout: SETTLE_MS },
        ),
        alice.getByRole('button', { name: 'Request statement', exact: true }).click(),
      ])
      expect(answer.status()).toBe(202)
      // The console polls the job at least every 500 ms, so the bar is up for at least that long.
      await alice.getByRole('progressbar', { name: 'Statement progress' }).waitFor()
      const downloadButton = alice.getByRole('button', { name: 'Download statement', exact: true })
      await downloadButton.waitFor({ timeout: 60_000 })
      const [download] = await Promise.all([alice.waitForEvent('download'), downloadButton.click()])
      expect(download.suggestedFilename()).toMatch(/\.pdf$/i)
      const file = path.join(OUTPUT_DIR, `flow-${download.suggestedFilename()}`)
      await download.saveAs(file)
      expect((await readFile(file)).subarray(0, 5).toString('latin1')).toBe('%PDF-')
    },
  )

  step("an admin finds A under Users, freezes A's USD wallet, and A's next transfer is refused", async () => {
    await admin.goto('/console/sign-in')
    await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
    for (const name of ['Users', 'API keys', 'FX rates', 'Operations']) await navLink(admin, name).waitFor()
    await navLink(admin, 'Users').click()
    await heading(admin, 'Users').waitFor()
    await field(admin, 'Search by email').fill(ALICE.email)
    const aliceLink = admin.getByRole('link', { name: ALICE.email, exact: true })
    await aliceLink.waitFor()
    await checkAccessibility(admin, 'admin users')
    await aliceLink.click()
    await admin.waitForURL(/\/console\/admin\/users\/[^/?#]+$/)
    await heading(admin, ALICE.email).waitFor()
    await checkAccessibility(admin, 'admin user')
    await goToWalletPage(admin, 'USD').then((id) => expect(id).toBe(aliceWalletId))
    await checkAccessibility(admin, 'wallet page (admin)')
    await admin.getByRole('button', { name: 'Freeze wallet', exact: true }).click()
    await eventually(() => textOf(admin.getByTestId('wallet-status'))).toBe('frozen')

    await alice.goto(`/console/move?wallet=${aliceWalletId}&kind=transfer`)
    await heading(alice, 'Move money').waitFor()
    await field(alice, 'Destination wallet ID').fill(bobWalletId)
    await field(alice, 'Amount').fill('5.00')
    const [refusal] = await Promise.all([
      alice.waitForResponse(
        (response) =>
          response.request().method() === 'POST' && new URL(response.url()).pathname === '/api/v1/transfers',
        { timeout: SETTLE_MS },
      ),
      alice.getByRole('button', { name: 'Send transfer', exact: true }).click(),
    ])
    expect(refusal.status()).toBeGreaterThanOrEqual(400)
    expect(refusal.headers()['content-type']).toContain('application/problem+json')
    const problem = (await refusal.json()) as { code: string; detail: string }
    expect(problem.detail).toContain('frozen')
    const alert = alice.getByRole('alert').filter({ hasText: 'frozen' })
    await alert.waitFor()
    const alertText = await textOf(alert)
    expect(alertText).toContain(problem.detail)
    expect(alertText, 'a problem in words, not JSON').not.toMatch(/[{}]|"code"/)
    await checkAccessibility(alice, 'move money (refused)')

    await goToAliceWallet()
    await eventually(() => textOf(alice.getByTestId('wallet-status'))).toBe('frozen')
    await eventually(() => walletFigures(alice)).toEqual({
      balance: '84.50',
      available: '84.50',
      held: '0.00',
    })
  })

  step('Sign out ends the session: the console goes back to Sign in', async () => {
    await alice.getByRole('button', { name: 'Sign out', exact: true }).click()
    await heading(alice, 'Sign in').waitFor()
    await alice.goto('/console/')
    await alice.waitForURL(/\/console\/sign-in$/)
  })

  it('no page visited has a serious or critical accessibility violation', () => {
    expect(audit.pages.length).toBeGreaterThan(0)
    expect(audit.blocking()).toEqual([])
  })

  it('no page threw an uncaught exception', () => {
    expect(pageErrors).toEqual([])
  })
})
