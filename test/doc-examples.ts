import { type ChildProcess, spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'

/**
 * The shell examples of a Markdown document, run as a reader runs them: every ```sh block, top to
 * bottom, in one bash with `set -euo pipefail`, so variables carry from block to block and the
 * first failing command stops the run.
 *
 * Conventions the documents follow (stated in them, checked here):
 * - a request expected to succeed uses `curl --fail-with-body`, so any 4xx or 5xx stops the run;
 * - a request that shows a refusal pipes its problem into `jq -e 'select(.status == 422)'`, which
 *   prints it and fails unless the status is the one shown;
 * - a block that cannot run beside a started server (installing, starting or stopping it) has
 *   `<!-- docs-test: skip: <reason> -->` on the line before its fence, and is reported as skipped;
 * - every fence names its language, and shell goes in `sh`: a `bash`, `console` or untagged fence
 *   is refused, so no example stops running by being retagged.
 * The only rewrite is the port: `localhost:3000` becomes the port of the server under test.
 */

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number
  text: string
  /** The reason given by the skip marker, when the block is not run. */
  skipReason?: string
}

export interface DocumentExamples {
  file: string
  run: ShellBlock[]
  skipped: ShellBlock[]
}

const FENCE = /^(`{3,}|~{3,})\s*([^\s`]*)/
const INDENTED_FENCE = /^\s+(`{3,}|~{3,})/
const SKIP_MARKER = /^<!--\s*docs-test:\s*skip:\s*(\S.*?)\s*-->$/
const ANY_MARKER = /^<!--\s*docs-test/
const NOT_SH_SHELLS = new Set(['', 'bash', 'shell', 'console', 'zsh', 'shell-session', 'sh-session'])

export function extractShellBlocks(file: string, markdown: string): DocumentExamples {
  const lines = markdown.split('\n')
  const run: ShellBlock[] = []
  const skipped: ShellBlock[] = []
  let pendingSkip: { reason: string; line: number } | undefined
  const fail = (line: number, why: string): never => {
    throw new Error(`${file}:${line}: ${why}`)
  }

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const fence = FENCE.exec(line)
    if (!fence) {
      if (INDENTED_FENCE.test(line))
        fail(i + 1, 'an indented fence; the docs test reads fences at column 0 only')
      const marker = SKIP_MARKER.exec(line.trim())
      if (marker) pendingSkip = { reason: marker[1]!, line: i + 1 }
      else if (ANY_MARKER.test(line.trim()))
        fail(i + 1, 'a docs-test marker must read <!-- docs-test: skip: <reason> -->')
      else if (line.trim() !== '' && pendingSkip)
        fail(pendingSkip.line, 'a skip marker not followed by a fence')
      continue
    }
    const marks = fence[1]!
    const language = fence[2] ?? ''
    const closingFence = new RegExp(`^${marks[0]}{${marks.length},}\\s*$`)
    const closing = lines.findIndex((l, j) => j > i && closingFence.test(l))
    if (closing < 0) fail(i + 1, 'a fence that is never closed')
    const block: ShellBlock = { line: i + 1, text: lines.slice(i + 1, closing).join('\n') }
    if (language === 'sh') {
      if (pendingSkip) skipped.push({ ...block, skipReason: pendingSkip.reason })
      else {
        const unchecked = uncheckedCurl(block)
        if (unchecked !== undefined) {
          fail(
            unchecked,
            "a curl that neither fails on an error status (--fail-with-body) nor checks the status it shows (| jq -e 'select(.status == 4xx)')",
          )
        }
        run.push(block)
      }
    } else if (NOT_SH_SHELLS.has(language)) {
      fail(
        i + 1,
        `a \`\`\`${language} fence: shell examples go in \`\`\`sh (tag other text, e.g. \`\`\`text)`,
      )
    } else if (pendingSkip) {
      fail(pendingSkip.line, 'a skip marker before a fence that is not ```sh')
    }
    pendingSkip = undefined
    i = closing
  }
  if (pendingSkip) fail(pendingSkip.line, 'a skip marker not followed by a fence')
  return { file, run, skipped }
}

const FAILS_ON_ERROR = /\s(--fail-with-body|--fail|-[a-zA-Z]*f[a-zA-Z]*)(\s|$)/
const CHECKS_STATUS = /\|\s*jq -e 'select\(\.status == \d{3}\)'\s*(#.*)?$/

/**
 * The document line of the first curl whose error status would go unnoticed, if any: a curl
 * without --fail-with-body answers a 500 with exit 0, so a broken example would still "pass".
 * Checked per command (lines joined at a trailing backslash); the status check at the end of a
 * command covers its last curl.
 */
function uncheckedCurl(block: ShellBlock): number | undefined {
  const lines = block.text.split('\n')
  for (let start = 0; start < lines.length; start++) {
    let end = start
    while (lines[end]!.endsWith('\\') && end + 1 < lines.length) end++
    const command = lines
      .slice(start, end + 1)
      .map((l) => l.replace(/\\$/, ''))
      .join(' ')
    if (!command.trimStart().startsWith('#')) {
      const calls = command.split(/\bcurl\s/).slice(1)
      const checked = CHECKS_STATUS.test(command)
      const blind = calls.findIndex(
        (call, k) => !FAILS_ON_ERROR.test(` ${call}`) && !(checked && k === calls.length - 1),
      )
      if (blind >= 0) return block.line + 1 + start
    }
    start = end
  }
  return undefined
}

export async function readShellBlocks(root: string, file: string): Promise<DocumentExamples> {
  return extractShellBlocks(file, await readFile(path.join(root, file), 'utf8'))
}

/** Scripts still running, so a test that fails or times out can stop them (curl children included). */
const runningScripts = new Set<ChildProcess>()

function killScript(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch (error) {
    // The group may have ended between the check and the kill; nothing is left to stop then.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/** For afterEach: kills the process group of every script still running. */
export function stopShellBlocks(): void {
  for (const child of runningScripts) killScript(child)
}

export interface ScriptOutcome {
  code: number | null
  stdout: string
  stderr: string
  /** Where the first failing command is in the document, e.g. "README.md:57", when one failed. */
  failedAt?: string
}

/**
 * Runs the blocks in one bash in `workDir`, with a HOME of its own there (so no ~/.curlrc changes
 * what curl does) and no proxy settings, pointed at `port`. Kills the whole process group when it
 * runs past `timeoutMs`.
 */
export async function runShellBlocks(
  examples: DocumentExamples,
  options: { port: number; workDir: string; timeoutMs: number },
): Promise<ScriptOutcome> {
  const origins: string[] = []
  const script: string[] = []
  const add = (text: string, origin: string) => {
    for (const line of text.split('\n')) {
      script.push(line)
      origins.push(origin)
    }
  }
  add('set -euo pipefail', 'harness')
  // Prints the failing line of the script; the test maps it back to the document.
  add(`trap 'echo "docs-test: failed at script line $LINENO" >&2' ERR`, 'harness')
  for (const block of examples.run) {
    const body = block.text.replaceAll('localhost:3000', `localhost:${options.port}`).split('\n')
    for (const [k, line] of body.entries()) add(line, `${examples.file}:${block.line + 1 + k}`)
  }
  const scriptFile = path.join(options.workDir, 'examples.sh')
  await writeFile(scriptFile, `${script.join('\n')}\n`)

  const child = spawn('bash', [scriptFile], {
    cwd: options.workDir,
    // npm offline: an example that reaches for the registry (an `npx` outside a checkout) fails
    // at once instead of downloading.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: options.workDir,
      LANG: 'C.UTF-8',
      NPM_CONFIG_OFFLINE: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const killGroup = () => killScript(child)
  runningScripts.add(child)
  const timer = setTimeout(() => {
    stderr += `\ndocs-test: killed after ${options.timeoutMs} ms`
    killGroup()
  }, options.timeoutMs)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (exitCode) => resolve(exitCode))
  }).finally(() => {
    clearTimeout(timer)
    runningScripts.delete(child)
  })

  const failedLine = /docs-test: failed at script line (\d+)/.exec(stderr)?.[1]
  const failedAt = failedLine === undefined ? undefined : origins[Number(failedLine) - 1]
  return failedAt === undefined ? { code, stdout, stderr } : { code, stdout, stderr, failedAt }
}
