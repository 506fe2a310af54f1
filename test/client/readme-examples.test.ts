import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

/**
 * The client README's TypeScript examples compile against the client as it is: each ```ts block
 * becomes the body of a function of its own, with the names it takes from its surroundings
 * (a user id, a wallet id, a body) declared with the types the API gives them.
 */
const README = 'packages/client/README.md'

const SURROUNDINGS = `
import { createCofferClient, isProblem, type RequestBody } from '../../../packages/client/src/index.js'
declare const coffer: ReturnType<typeof createCofferClient>
declare const userId: string
declare const paymentId: string
declare const email: string
declare const password: string
declare const name: string
declare const cursor: string | undefined
declare const fromWalletId: string
declare const toUserId: string
declare const id: string
declare const body: RequestBody<'/api/v1/transfers', 'post'>
declare function setProgress(percent: number): void
declare function saveAs(file: unknown, name: string): void
void isProblem
`

function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? '')
}

function programOf(blocks: string[]): string {
  const functions = blocks.map((block, index) => {
    // The one import every example starts from is in SURROUNDINGS, pointing at the sources.
    const code = block.replace(/^import .* from '@coffer\/client'\n/m, '')
    return `export async function example${index + 1}() {\n${code}\n}`
  })
  return `${SURROUNDINGS}\n${functions.join('\n\n')}\n`
}

describe('the client README', () => {
  it('has TypeScript examples that compile against the client', async () => {
    const blocks = tsBlocks(await readFile(README, 'utf8'))
    expect(blocks.length).toBeGreaterThan(0)
    // Inside test/ so that the relative import above resolves; removed afterwards.
    const dir = await mkdtemp(join('test', 'client', '.readme-'))
    try {
      const file = join(dir, 'examples.ts')
      await writeFile(file, programOf(blocks))
      const program = ts.createProgram([file], {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: true,
        noEmit: true,
        lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
        types: ['node'],
      })
      const problems = ts
        .getPreEmitDiagnostics(program)
        .filter((diagnostic) => diagnostic.file?.fileName.endsWith('examples.ts'))
        .map((diagnostic) => {
          const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
          const line =
            diagnostic.file && diagnostic.start !== undefined
              ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line + 1
              : 0
          return `line ${line}: ${text}`
        })
      expect(problems).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
