import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type CliRun, cleanUpCliRuns, scratchDir, startServing } from './cli-process.js'
import {
  type DocumentExamples,
  extractShellBlocks,
  readShellBlocks,
  runShellBlocks,
  stopShellBlocks,
} from './doc-examples.js'

/**
 * Every shell example of README.md and docs/api.md, run in order against `coffer start` (the
 * built server, as `npm start` runs it) on a fresh embedded database, in every test shape: the
 * documents describe a newcomer's `npm start`. Needs bash, curl and jq.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SCRIPT_TIMEOUT_MS = 40_000

const ADMIN_START = "COFFER_ADMIN_EMAIL=admin@example.com COFFER_ADMIN_PASSWORD='a long passphrase' npm start"

/** Each document with the server settings it tells its reader to start with. */
const DOCUMENTS: { file: string; env: Record<string, string>; startCommand?: string }[] = [
  { file: 'README.md', env: {} },
  {
    file: 'docs/api.md',
    env: { COFFER_ADMIN_EMAIL: 'admin@example.com', COFFER_ADMIN_PASSWORD: 'a long passphrase' },
    startCommand: ADMIN_START,
  },
]

const documents = await Promise.all(
  DOCUMENTS.map(async (doc) => ({ ...doc, examples: await readShellBlocks(ROOT, doc.file) })),
)

function skippedList(examples: DocumentExamples): string {
  if (examples.skipped.length === 0) return 'none'
  return examples.skipped.map((b) => `line ${b.line}: ${b.skipReason}`).join('; ')
}

function serverComplaints(run: CliRun): string {
  return run.logs
    .filter((line) => line.level >= 50)
    .map((line) => JSON.stringify(line))
    .join('\n')
}

afterEach(async () => {
  stopShellBlocks()
  await cleanUpCliRuns()
})

describe('the examples of the documentation', () => {
  for (const { file, env, startCommand, examples } of documents) {
    it(`${file}: runs its ${examples.run.length} sh blocks in one shell (skipped: ${skippedList(examples)})`, {
      timeout: 90_000,
    }, async () => {
      expect(examples.run.length).toBeGreaterThan(0)
      if (startCommand) {
        // The server under test runs with the settings the document tells its reader to use.
        expect(examples.skipped.map((b) => b.text.trim())).toContain(startCommand)
      }
      const { run, port } = await startServing(await scratchDir('coffer-docs-data-'), { built: true, env })
      const outcome = await runShellBlocks(examples, {
        port,
        workDir: await scratchDir('coffer-docs-shell-'),
        timeoutMs: SCRIPT_TIMEOUT_MS,
      })
      const report = [
        `${file}: exit ${outcome.code}, first failing command at ${outcome.failedAt ?? 'unknown'}`,
        `stderr:\n${outcome.stderr.slice(-4_000)}`,
        `stdout (end):\n${outcome.stdout.slice(-4_000)}`,
        `server errors:\n${serverComplaints(run)}`,
      ].join('\n')
      expect(outcome.code, report).toBe(0)
      expect(serverComplaints(run), 'the server logged errors').toBe('')
    })
  }
})

describe('the docs harness', () => {
  // A stand-in server: 200 on /ok, a 422 problem on anything else.
  let server: Server
  let port: number
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/ok') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"up"}')
        return
      }
      response
        .writeHead(422, { 'content-type': 'application/problem+json' })
        .end('{"status":422,"code":"invalid_amount"}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  afterAll(() => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))))

  const run = async (markdown: string) =>
    runShellBlocks(extractShellBlocks('example.md', markdown), {
      port,
      workDir: await scratchDir('coffer-docs-harness-'),
      timeoutMs: 10_000,
    })

  it('runs sh blocks in order in one shell, rewriting only the port, and leaves marked blocks out', async () => {
    const outcome = await run(
      [
        '```sh',
        'STATUS=$(curl -sS --fail-with-body localhost:3000/ok | jq -r .status)',
        '```',
        '<!-- docs-test: skip: starts the server -->',
        '```sh',
        'echo skipped-block-ran',
        '```',
        '```json',
        '{"not": "run"}',
        '```',
        '```sh',
        'echo "status=$STATUS"',
        "curl -s localhost:3000/refused | jq -e 'select(.status == 422)'",
        '```',
      ].join('\n'),
    )
    expect(outcome.code, outcome.stderr).toBe(0)
    expect(outcome.stdout).toBe('status=up\n{\n  "status": 422,\n  "code": "invalid_amount"\n}\n')
  })

  it('stops at a request that fails and names its line in the document', async () => {
    const outcome = await run(
      ['```sh', 'echo first', 'curl -sS --fail-with-body localhost:3000/broken', 'echo after', '```'].join(
        '\n',
      ),
    )
    expect(outcome.code).not.toBe(0)
    expect(outcome.failedAt).toBe('example.md:3')
    expect(outcome.stdout).toContain('invalid_amount') // the problem the reader sees
    expect(outcome.stdout).not.toContain('after')
  })

  it('stops at a refusal of another status than the one shown', async () => {
    const outcome = await run(
      [
        '```sh',
        'X=1',
        '```',
        'text',
        '```sh',
        "curl -s localhost:3000/refused | jq -e 'select(.status == 404)'",
        'echo after',
        '```',
      ].join('\n'),
    )
    expect(outcome.code).not.toBe(0)
    expect(outcome.failedAt).toBe('example.md:6')
    expect(outcome.stdout).not.toContain('after')
  })

  it('refuses a shell example outside ```sh, a stray or malformed marker, and a curl whose status goes unchecked', () => {
    const refusals: [string, RegExp][] = [
      ['```bash\necho hi\n```', /example\.md:1: a ```bash fence/],
      ['```console\n$ npm start\n```', /a ```console fence/],
      ['```\nnpm start\n```', /a ``` fence/],
      ['<!-- docs-test: skip: why -->\n\ntext\n```sh\nx\n```', /example\.md:1: a skip marker not followed/],
      ['<!-- docs-test: skip: why -->\n```json\n{}\n```', /not ```sh/],
      ['<!-- docs-test: skip -->\n```sh\nx\n```', /must read/],
      ['- item\n  ```sh\n  x\n  ```', /example\.md:2: an indented fence/],
      ['```sh\nx\n', /never closed/],
      [
        '```sh\necho ok\ncurl -s \\\n  localhost:3000/x | jq .\n```',
        /example\.md:3: a curl that neither fails/,
      ],
      ["```sh\ncurl -s localhost:3000/x | jq -e 'select(.status == 422)' | curl -s y\n```", /:2: a curl/],
    ]
    for (const [markdown, message] of refusals) {
      expect(() => extractShellBlocks('example.md', markdown)).toThrow(message)
    }
    const checked = [
      'Prose may name the marker, `<!-- docs-test: skip: <reason> -->`, without being one.',
      '```sh',
      'curl -fsS localhost:3000/ok',
      'X=$(curl -sS --fail-with-body localhost:3000/ok \\',
      '  | jq -r .status)   # up',
      "curl -s localhost:3000/refused -H 'a: b' \\",
      "  | jq -e 'select(.status == 422)'   # 422 {…}",
      '# curl -s comments are not commands',
      '```',
    ].join('\n')
    expect(extractShellBlocks('example.md', checked).run).toHaveLength(1)
  })
})
