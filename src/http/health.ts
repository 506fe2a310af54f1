/** One dependency that /health and /health/ready probe; the container lists them. */
export interface HealthCheck {
  name: string
  /**
   * False for a dependency the API serves without (Redis): its outage shows in /health but does
   * not make /health/ready fail, which would take every instance out of a load balancer at once.
   */
  required?: boolean
  check(): Promise<void>
}
