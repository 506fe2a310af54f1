import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { ConfigError, ConfigSchema, loadConfig } from './config.js'

describe('loadConfig', () => {
  it('gives the documented defaults with an empty environment', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '0.0.0.0',
      DATA_DIR: './.coffer',
      DB_CONNECT_RETRIES: 10,
      DB_CONNECT_RETRY_DELAY_MS: 2000,
      SHUTDOWN_TIMEOUT_MS: 10000,
      LOG_LEVEL: 'info',
    })
    expect(config.DATABASE_URL).toBeUndefined()
  })

  it('reads and converts values', () => {
    const config = loadConfig({ PORT: '8080', DATABASE_URL: 'postgres://u@h:5432/d', LOG_LEVEL: 'warn' })
    expect(config.PORT).toBe(8080)
    expect(config.DATABASE_URL).toBe('postgres://u@h:5432/d')
    expect(config.LOG_LEVEL).toBe('warn')
  })

  it('names every bad variable and what it expected', () => {
    let error: unknown
    try {
      loadConfig({ PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', DB_CONNECT_RETRIES: '-1' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    const problems = (error as ConfigError).problems
    expect(problems).toHaveLength(4)
    expect(problems).toContain('PORT="abc": expected an integer >= 0 and <= 65535')
    expect(problems.find((p) => p.startsWith('LOG_LEVEL='))).toMatch(/one of fatal, error, warn, info/)
    expect(problems.find((p) => p.startsWith('DATABASE_URL='))).toMatch(/postgres/)
    expect(problems.find((p) => p.startsWith('DB_CONNECT_RETRIES='))).toMatch(/>= 0/)
  })

  it('rejects a port out of range and a non-integer delay', () => {
    expect(() => loadConfig({ PORT: '70000' })).toThrow(/PORT/)
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT_MS: '1.5' })).toThrow(/SHUTDOWN_TIMEOUT_MS/)
  })
})

describe('docs/configuration.md', () => {
  it('lists exactly the variables of the schema, with their defaults', async () => {
    const markdown = await readFile('docs/configuration.md', 'utf8')
    const rows = [...markdown.matchAll(/^\| `([A-Z0-9_]+)` +\| ([^|]+) \|/gm)].map((m) => ({
      name: m[1],
      default: m[2]!.trim(),
    }))
    const properties = ConfigSchema.properties as Record<string, { default?: unknown }>
    expect(rows.map((r) => r.name).sort()).toEqual(Object.keys(properties).sort())
    for (const row of rows) {
      const expected = properties[row.name!]?.default
      expect(row.default, row.name).toBe(expected === undefined ? '(unset)' : `\`${String(expected)}\``)
    }
  })
})
