/** Figures a check reports beside its status (the outbox's backlog and lag), shown by /health. */
export type HealthDetails = Record<string, number | string | boolean>

/** One dependency that /health and /health/ready probe; the container lists them. */
export interface HealthCheck {
  name: string
  /**
   * False for a dependency the API serves without (Redis): its outage shows in /health but does
   * not make /health/ready fail, which would take every instance out of a load balancer at once.
   */
  required?: boolean
  /** Throws when the dependency is down. */
  check(): Promise<void>
  /** A check that also reports figures: when present, probed instead of `check`. */
  details?(): Promise<HealthDetails>
}

/**
 * The readiness of a process that is shutting down. Once `drain()` is called, /health/ready
 * answers 503 (and /health reports it) while every other route still serves, so a load balancer
 * takes the instance out of rotation before its listener closes and connections are refused.
 */
export interface DrainingCheck extends HealthCheck {
  drain(): void
}

export function drainingCheck(): DrainingCheck {
  let draining = false
  return {
    name: 'shutdown',
    check: async () => {
      if (draining) throw new Error('draining: the process is shutting down')
    },
    drain: () => {
      draining = true
    },
  }
}
