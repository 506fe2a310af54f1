import { useEffect } from 'react'

/** Each page names the tab, so history, screen readers and tab strips say where you are. */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Coffer`
  }, [title])
}
