import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import type { DestinationPolicy } from './sender-types.js'

/**
 * Where a webhook may be sent. The subscription API checks the URL text when a URL is set; the
 * sender checks every resolved address again when it connects, because a name that resolved to a
 * public address yesterday may resolve to 10.0.0.5 today.
 */

export const MAX_WEBHOOK_URL_LENGTH = 2000

export type WebhookUrlCheck = { ok: true; url: URL } | { ok: false; reason: string }

/** The only hostnames for which `allowLocalhost` opens plain http and loopback addresses. */
function isLocalhostName(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1'
}

/** `[::1]` in a URL's hostname is `::1` to the resolver and to ipaddr.js. */
export function unbracketed(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
}

export function checkWebhookUrl(text: string, policy: DestinationPolicy): WebhookUrlCheck {
  if (text.length > MAX_WEBHOOK_URL_LENGTH) {
    return { ok: false, reason: `webhook URLs are at most ${MAX_WEBHOOK_URL_LENGTH} characters` }
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return { ok: false, reason: 'not a valid URL' }
  }
  if (url.protocol === 'http:') {
    if (!policy.allowLocalhost || !isLocalhostName(url.hostname)) {
      return { ok: false, reason: 'webhook URLs must use https' }
    }
  } else if (url.protocol !== 'https:') {
    return { ok: false, reason: 'webhook URLs must use https' }
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'webhook URLs may not carry a user name or password' }
  }
  // `new URL('https://x/#')` has an empty hash but still carries the fragment in href.
  if (url.hash !== '' || url.href.endsWith('#')) {
    return { ok: false, reason: 'webhook URLs may not have a fragment' }
  }
  if (url.hostname === '') return { ok: false, reason: 'webhook URLs need a host name' }
  // Refused at connect time anyway; saying so now spares the subscriber a day of failed retries.
  if (!policy.allowLocalhost && (url.hostname === 'localhost' || url.hostname.endsWith('.localhost'))) {
    return { ok: false, reason: `${url.hostname} is a loopback name` }
  }
  // The WHATWG parser has already turned 2130706433, 0x7f.1 and 0177.0.0.1 into 127.0.0.1, and
  // [::ffff:127.0.0.1] into [::ffff:7f00:1], so the canonical literal is what gets checked.
  const host = unbracketed(url.hostname)
  const family = isIP(host)
  if (family === 4 || family === 6) {
    const refused = refusedAddress(host, family, policy, url.hostname)
    if (refused !== null) return { ok: false, reason: refused }
  }
  return { ok: true, url }
}

const RANGE_NAMES: Record<string, string> = {
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  multicast: 'a multicast',
  linkLocal: 'a link-local',
  loopback: 'a loopback',
  carrierGradeNat: 'a carrier-grade NAT',
  private: 'a private',
  reserved: 'a reserved',
  uniqueLocal: 'a unique-local (private)',
  '6to4': 'a 6to4 relay',
  teredo: 'a Teredo tunnel',
  rfc6052: 'a NAT64',
  rfc6145: 'an IPv4-translated',
  benchmarking: 'a benchmarking',
}

function describeRange(range: string): string {
  return `${RANGE_NAMES[range] ?? `a special-purpose (${range})`} address`
}

// Only 2000::/3 is allocated for global unicast; ipaddr.js calls parts of the rest (for example
// the deprecated IPv4-compatible ::a.b.c.d) `unicast`, which they are not on the Internet.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3')

/**
 * Why `address` may not be contacted for a URL whose hostname is `hostname`, or null when it may.
 * Everything ipaddr.js does not class as unicast is refused; with `allowLocalhost`, loopback is
 * let through only for the two local hostnames, so a public name cannot be pointed at loopback.
 */
export function refusedAddress(
  address: string,
  family: 4 | 6,
  policy: DestinationPolicy,
  hostname: string,
): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6
  try {
    parsed = family === 4 ? ipaddr.IPv4.parse(address) : ipaddr.IPv6.parse(address)
  } catch {
    return `${address} is not an IP address`
  }
  if (parsed.kind() === 'ipv4') {
    // Resolvers and the URL parser give dotted quads; anything else is not what it looks like.
    if (!ipaddr.IPv4.isValidFourPartDecimal(address)) return `${address} is not a plain IPv4 address`
    const why = refusedV4(parsed as ipaddr.IPv4, policy, hostname)
    return why === null ? null : `${address} is ${why}`
  }
  const v6 = parsed as ipaddr.IPv6
  if (v6.isIPv4MappedAddress()) {
    const embedded = v6.toIPv4Address()
    const why = refusedV4(embedded, policy, hostname)
    return why === null ? null : `${address} maps to ${embedded.toString()}, ${why}`
  }
  const range = v6.range()
  if (range === 'loopback' && policy.allowLocalhost && isLocalhostName(hostname)) return null
  if (range !== 'unicast') return `${address} is ${describeRange(range)}`
  if (!v6.match(GLOBAL_UNICAST_V6)) return `${address} is not a global unicast address`
  return null
}

function refusedV4(address: ipaddr.IPv4, policy: DestinationPolicy, hostname: string): string | null {
  const range = address.range()
  if (range === 'unicast') return null
  if (range === 'loopback' && policy.allowLocalhost && isLocalhostName(hostname)) return null
  return describeRange(range)
}
