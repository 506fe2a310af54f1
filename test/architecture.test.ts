import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { checkDependencies, formatViolation, type Violation } from '../scripts/check-dependencies.js'

/** The checker's answer as the lines `npm run lint` prints, so a failure shows every import. */
const report = (violations: Violation[]) => violations.map(formatViolation)

describe('the dependency rule of docs/architecture.md', () => {
  it('holds on the source tree', () => {
    expect(report(checkDependencies(process.cwd()))).toEqual([])
  })
})

describe('the dependency check', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'coffer-architecture-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  /** A fixture tree: each file of `files` written under `root`, and the check run on them alone. */
  function check(name: string, files: Record<string, string>): string[] {
    const tree = path.join(root, name)
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.join(tree, path.dirname(file)), { recursive: true })
      writeFileSync(path.join(tree, file), text)
    }
    return report(checkDependencies(tree))
  }

  it('passes a tree that keeps the rule', () => {
    expect(
      check('clean', {
        'src/app.ts': "import { walletRoutes } from './wallets/wallets.routes.js'\n",
        'src/wallets/wallets.routes.ts':
          "import type { App } from '../http/app-type.js'\nimport type { WalletsService } from './wallets.service.js'\n",
        'src/wallets/wallets.service.ts': "import { postOne } from '../ledger/posting-engine.js'\n",
        'src/ledger/posting-engine.ts': "import type { Db } from '../db/database.js'\n",
        'src/db/database.ts': "import { Kysely } from 'kysely'\n",
        'src/http/app-type.ts': "import type { FastifyInstance } from 'fastify'\n",
      }),
    ).toEqual([])
  })

  it('names a ledger file that imports Fastify', () => {
    expect(
      check('ledger-fastify', { 'src/ledger/x.ts': "import type { FastifyRequest } from 'fastify'\n" }),
    ).toEqual([
      'src/ledger/x.ts imports fastify: breaks "ledger/, money/, db/, events/, services and repositories import nothing from Fastify"',
    ])
  })

  it('names a service that imports the HTTP layer', () => {
    expect(
      check('service-http', {
        'src/wallets/wallets.service.ts': "import { InvalidCursor } from '../http/http.errors.js'\n",
        'src/http/http.errors.ts': '',
      }),
    ).toEqual([
      'src/wallets/wallets.service.ts imports src/http/http.errors.ts: breaks "ledger/, money/, db/, events/, services and repositories import nothing from http/"',
    ])
  })

  it('names a route file that imports app.ts, and the cycle it closes', () => {
    expect(
      check('route-app', {
        'src/app.ts': "import { walletRoutes } from './wallets/wallets.routes.js'\n",
        'src/wallets/wallets.routes.ts': "import type { App } from '../app.js'\n",
      }),
    ).toEqual([
      'src/wallets/wallets.routes.ts imports src/app.ts: breaks "only cli/, worker/, bench/ and tests import app.ts or container.ts"',
      'src/app.ts imports src/wallets/wallets.routes.ts: breaks "no import cycles: src/app.ts -> src/wallets/wallets.routes.ts -> src/app.ts"',
    ])
  })

  it('names a cycle of two files made of type-only imports', () => {
    expect(
      check('type-cycle', {
        'src/ledger/holds.ts': "import type { PostingRequest } from './posting-engine.js'\n",
        'src/ledger/posting-engine.ts': "import type { HoldRow } from './holds.js'\n",
      }),
    ).toEqual([
      'src/ledger/holds.ts imports src/ledger/posting-engine.ts: breaks "no import cycles: src/ledger/holds.ts -> src/ledger/posting-engine.ts -> src/ledger/holds.ts"',
    ])
  })

  it('names the chain through which a core file reaches Fastify', () => {
    expect(
      check('fastify-reach', {
        'src/db/schema.ts': "import type { AuthTables } from '../auth/auth.tables.js'\n",
        'src/auth/auth.tables.ts': "import type { Role } from './access.js'\n",
        'src/auth/access.ts': "import type { FastifyRequest } from 'fastify'\n",
      }),
    ).toEqual([
      'src/db/schema.ts imports src/auth/auth.tables.ts: breaks "ledger/, money/, db/, events/, services and repositories reach no Fastify, even through other files: src/db/schema.ts -> src/auth/auth.tables.ts -> src/auth/access.ts -> fastify"',
    ])
  })
})
