import { type ComponentPropsWithRef, type MouseEvent, useSyncExternalStore } from 'react'

/**
 * A small path router on history.pushState: the console has a dozen flat pages, which does not
 * justify a routing dependency. Paths inside the app are written without the /console base.
 */

const BASE = import.meta.env.BASE_URL.replace(/\/$/, '')
const NAVIGATED = 'coffer:navigated'

export function hrefOf(to: string): string {
  return `${BASE}${to.startsWith('/') ? to : `/${to}`}`
}

function appPath(): string {
  const { pathname } = window.location
  const inside = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname
  return inside === '' ? '/' : inside
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange)
  window.addEventListener(NAVIGATED, onChange)
  return () => {
    window.removeEventListener('popstate', onChange)
    window.removeEventListener(NAVIGATED, onChange)
  }
}

export interface Location {
  path: string
  query: URLSearchParams
}

let lastKey = ''
let lastLocation: Location = { path: '/', query: new URLSearchParams() }

function snapshot(): Location {
  const key = window.location.pathname + window.location.search
  if (key !== lastKey) {
    lastKey = key
    lastLocation = { path: appPath(), query: new URLSearchParams(window.location.search) }
  }
  return lastLocation
}

export function useLocation(): Location {
  return useSyncExternalStore(subscribe, snapshot)
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const href = hrefOf(to)
  if (options.replace) window.history.replaceState(null, '', href)
  else window.history.pushState(null, '', href)
  window.scrollTo(0, 0)
  window.dispatchEvent(new Event(NAVIGATED))
}

/** Same as a click on a plain link, except that it stays in the page unless a new tab is asked for. */
export function followLink(event: MouseEvent<HTMLAnchorElement>, to: string): void {
  if (event.defaultPrevented || event.button !== 0) return
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
  event.preventDefault()
  navigate(to)
}

export type LinkProps = Omit<ComponentPropsWithRef<'a'>, 'href'> & { to: string }

/** An <a> with a real href (so it opens in a new tab and reads as a link), routed in-page on click. */
export function Link({ to, onClick, ref, ...rest }: LinkProps) {
  return (
    <a
      ref={ref}
      href={hrefOf(to)}
      onClick={(event) => {
        onClick?.(event)
        followLink(event, to)
      }}
      {...rest}
    />
  )
}

/** `/wallets/:id` against `/wallets/0190...` → `{ id: '0190...' }`, or null when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const patternParts = pattern.split('/').filter(Boolean)
  const pathParts = path.split('/').filter(Boolean)
  if (patternParts.length !== pathParts.length) return null
  const params: Record<string, string> = {}
  for (const [index, part] of patternParts.entries()) {
    const actual = pathParts[index] ?? ''
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(actual)
    else if (part !== actual) return null
  }
  return params
}
