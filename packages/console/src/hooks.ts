import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react'

export interface Resource<T> {
  data: T | undefined
  error: unknown
  loading: boolean
  reload: () => void
}

/**
 * Loads something for a page and reloads it when `deps` change. An answer that arrives after a newer
 * request started is dropped, so a fast filter change never shows the previous filter's rows.
 */
export function useResource<T>(load: () => Promise<T>, deps: DependencyList): Resource<T> {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<unknown>()
  const [loading, setLoading] = useState(true)
  const [generation, setGeneration] = useState(0)
  const latest = useRef(0)

  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller names what the loader depends on.
  useEffect(() => {
    const request = ++latest.current
    setLoading(true)
    load().then(
      (value) => {
        if (request !== latest.current) return
        setData(value)
        setError(undefined)
        setLoading(false)
      },
      (failure: unknown) => {
        if (request !== latest.current) return
        setError(failure)
        setLoading(false)
      },
    )
  }, [...deps, generation])

  const reload = useCallback(() => setGeneration((value) => value + 1), [])
  return { data, error, loading, reload }
}
