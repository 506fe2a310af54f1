import { describe, expect, it } from 'vitest'
import { hashPassword, passwordMatches } from './passwords.js'

async function medianMs(work: () => Promise<unknown>, runs = 5): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    await work()
    times.push(performance.now() - started)
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)] ?? 0
}

describe('passwords', () => {
  it('are hashed with argon2id and verified', async () => {
    const hash = await hashPassword('correct horse battery staple')
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    expect(await passwordMatches(hash, 'correct horse battery staple')).toBe(true)
    expect(await passwordMatches(hash, 'Correct horse battery staple')).toBe(false)
    expect(await passwordMatches('not a hash', 'anything')).toBe(false)
  })

  it('take as long to refuse an unknown account as a wrong password, so timing reveals no emails', async () => {
    const hash = await hashPassword('correct horse battery staple')
    await passwordMatches(null, 'warm-up')
    const wrongPassword = await medianMs(() => passwordMatches(hash, 'a wrong password'))
    const noAccount = await medianMs(() => passwordMatches(null, 'a wrong password'))
    expect(await passwordMatches(null, 'correct horse battery staple')).toBe(false)
    // Skipping the verify would answer in microseconds; a loose bound keeps a busy machine from flaking.
    expect(noAccount).toBeGreaterThan(wrongPassword * 0.3)
  })
})
