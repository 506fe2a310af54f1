import { describe, expect, it } from 'vitest'
import { checkWebhookUrl, refusedAddress } from './destination-policy.js'

const strict = { allowLocalhost: false }
const local = { allowLocalhost: true }

function reason(url: string, policy = strict): string | null {
  const check = checkWebhookUrl(url, policy)
  return check.ok ? null : check.reason
}

describe('checkWebhookUrl', () => {
  it('accepts https URLs to public hosts and addresses', () => {
    for (const url of [
      'https://hooks.example.com/coffer',
      'https://hooks.example.com:8443/a/b?team=payments',
      'https://8.8.8.8/hook',
      'https://[2606:4700:4700::1111]/hook',
    ]) {
      expect(reason(url), url).toBeNull()
    }
    const check = checkWebhookUrl('https://Hooks.Example.com/x', strict)
    expect(check.ok && check.url.hostname).toBe('hooks.example.com')
  })

  it('refuses other schemes, credentials, fragments, junk and overlong URLs', () => {
    expect(reason('http://hooks.example.com/')).toBe('webhook URLs must use https')
    expect(reason('ftp://hooks.example.com/')).toBe('webhook URLs must use https')
    expect(reason('file:///etc/passwd')).toBe('webhook URLs must use https')
    expect(reason('https://user:pass@hooks.example.com/')).toMatch(/user name or password/)
    expect(reason('https://user@hooks.example.com/')).toMatch(/user name or password/)
    expect(reason('https://hooks.example.com/#section')).toMatch(/fragment/)
    expect(reason('https://hooks.example.com/#')).toMatch(/fragment/)
    expect(reason('not a url')).toBe('not a valid URL')
    expect(reason('')).toBe('not a valid URL')
    expect(reason(`https://hooks.example.com/${'a'.repeat(2000)}`)).toMatch(/at most 2000/)
    expect(
      reason(`https://hooks.example.com/${'a'.repeat(2000 - 'https://hooks.example.com/'.length)}`),
    ).toBeNull()
  })

  it('refuses private, loopback, link-local and metadata literals at once', () => {
    expect(reason('https://10.0.0.5/')).toBe('10.0.0.5 is a private address')
    expect(reason('https://192.168.1.1/')).toBe('192.168.1.1 is a private address')
    expect(reason('https://172.16.0.1/')).toBe('172.16.0.1 is a private address')
    expect(reason('https://127.0.0.1/')).toBe('127.0.0.1 is a loopback address')
    expect(reason('https://169.254.169.254/latest/meta-data/')).toBe(
      '169.254.169.254 is a link-local address',
    )
    expect(reason('https://100.100.100.200/')).toMatch(/^100\.100\.100\.200 is a carrier-grade NAT/)
    expect(reason('https://[fd00:ec2::254]/')).toMatch(/^fd00:ec2::254 is a unique-local/)
    expect(reason('https://[::1]/')).toBe('::1 is a loopback address')
    expect(reason('https://0.0.0.0/')).toMatch(/unspecified/)
    expect(reason('https://[::]/')).toMatch(/unspecified/)
    expect(reason('https://255.255.255.255/')).toMatch(/broadcast/)
    expect(reason('https://224.0.0.1/')).toMatch(/multicast/)
    expect(reason('https://[fe80::1]/')).toMatch(/link-local/)
  })

  it('sees through the forms the URL parser normalises', () => {
    expect(reason('https://2130706433/')).toBe('127.0.0.1 is a loopback address')
    expect(reason('https://0x7f.1/')).toBe('127.0.0.1 is a loopback address')
    expect(reason('https://0177.0.0.1/')).toBe('127.0.0.1 is a loopback address')
    expect(reason('https://127.1/')).toBe('127.0.0.1 is a loopback address')
    expect(reason('https://127.0.0.1./')).toBe('127.0.0.1 is a loopback address')
    expect(reason('https://0xa9fea9fe/')).toBe('169.254.169.254 is a link-local address')
    expect(reason('https://[::ffff:127.0.0.1]/')).toMatch(/^::ffff:7f00:1 maps to 127\.0\.0\.1, a loopback/)
    expect(reason('https://[::ffff:a9fe:a9fe]/')).toMatch(/maps to 169\.254\.169\.254, a link-local/)
    expect(reason('https://[::127.0.0.1]/')).toMatch(/not a global unicast/)
    expect(reason('https://[64:ff9b::a00:1]/')).toMatch(/NAT64/)
    expect(reason('https://[2002:a00:1::1]/')).toMatch(/6to4/)
    expect(reason('https://[2001::1]/')).not.toBeNull()
  })

  it('refuses localhost names unless allowLocalhost', () => {
    expect(reason('https://localhost/')).toBe('localhost is a loopback name')
    expect(reason('https://LOCALHOST:8443/')).toBe('localhost is a loopback name')
    expect(reason('https://api.localhost/')).toBe('api.localhost is a loopback name')
    expect(reason('http://localhost:3000/hook')).toBe('webhook URLs must use https')
    expect(reason('http://127.0.0.1:3000/hook')).toBe('webhook URLs must use https')
  })

  it('with allowLocalhost, opens http and loopback to localhost and 127.0.0.1 only', () => {
    expect(reason('http://localhost:3000/hook', local)).toBeNull()
    expect(reason('http://127.0.0.1:3000/hook', local)).toBeNull()
    expect(reason('https://localhost:3000/hook', local)).toBeNull()
    expect(reason('https://127.0.0.1:3000/hook', local)).toBeNull()
    expect(reason('http://127.0.0.2:3000/hook', local)).toBe('webhook URLs must use https')
    expect(reason('http://[::1]:3000/hook', local)).toBe('webhook URLs must use https')
    expect(reason('http://hooks.example.com/', local)).toBe('webhook URLs must use https')
    expect(reason('https://127.0.0.2/', local)).toBe('127.0.0.2 is a loopback address')
    expect(reason('https://2130706433/', local)).toBeNull()
    expect(reason('https://10.0.0.5/', local)).toBe('10.0.0.5 is a private address')
    expect(reason('http://localhost/#x', local)).toMatch(/fragment/)
  })
})

describe('refusedAddress', () => {
  it('allows public unicast addresses', () => {
    expect(refusedAddress('8.8.8.8', 4, strict, 'dns.google')).toBeNull()
    expect(refusedAddress('2606:4700:4700::1111', 6, strict, 'one.one.one.one')).toBeNull()
  })

  it('refuses the metadata addresses of the big clouds', () => {
    expect(refusedAddress('169.254.169.254', 4, local, 'rebind.test')).toBe(
      '169.254.169.254 is a link-local address',
    )
    expect(refusedAddress('fd00:ec2::254', 6, local, 'rebind.test')).toMatch(/unique-local/)
    expect(refusedAddress('100.100.100.200', 4, local, 'rebind.test')).toMatch(/carrier-grade NAT/)
  })

  it('refuses every range that is not unicast', () => {
    const cases: [string, 4 | 6][] = [
      ['0.0.0.0', 4],
      ['10.1.2.3', 4],
      ['100.64.0.1', 4],
      ['127.0.0.1', 4],
      ['169.254.0.1', 4],
      ['172.31.255.255', 4],
      ['192.0.2.1', 4],
      ['192.168.0.1', 4],
      ['198.18.0.1', 4],
      ['224.0.0.251', 4],
      ['240.0.0.1', 4],
      ['255.255.255.255', 4],
      ['::', 6],
      ['::1', 6],
      ['::ffff:10.0.0.1', 6],
      ['::ffff:127.0.0.1', 6],
      ['::ffff:169.254.169.254', 6],
      ['64:ff9b::1', 6],
      ['fc00::1', 6],
      ['fe80::1', 6],
      ['fe80::1%eth0', 6],
      ['ff02::1', 6],
      ['2001:db8::1', 6],
      ['2002:c000:0204::1', 6],
      ['2001:0:4136:e378::1', 6],
      ['::7f00:1', 6],
    ]
    for (const [address, family] of cases) {
      expect(refusedAddress(address, family, strict, 'rebind.test'), address).not.toBeNull()
    }
  })

  it('lets loopback through only for localhost names when allowed', () => {
    expect(refusedAddress('127.0.0.1', 4, local, 'localhost')).toBeNull()
    expect(refusedAddress('::1', 6, local, 'localhost')).toBeNull()
    expect(refusedAddress('127.0.0.1', 4, local, '127.0.0.1')).toBeNull()
    expect(refusedAddress('127.0.0.1', 4, strict, 'localhost')).toBe('127.0.0.1 is a loopback address')
    expect(refusedAddress('127.0.0.1', 4, local, 'rebind.test')).toBe('127.0.0.1 is a loopback address')
    expect(refusedAddress('::1', 6, local, 'rebind.test')).toBe('::1 is a loopback address')
    expect(refusedAddress('10.0.0.1', 4, local, 'localhost')).toBe('10.0.0.1 is a private address')
  })

  it('refuses what is not a plain address', () => {
    expect(refusedAddress('rebind.test', 4, strict, 'rebind.test')).toMatch(/not an IP address/)
    expect(refusedAddress('0x7f.1', 4, local, 'localhost')).toMatch(/not a plain IPv4/)
    expect(refusedAddress('::1', 4, local, 'localhost')).toMatch(/not an IP address/)
  })
})
