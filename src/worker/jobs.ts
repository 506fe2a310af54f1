import type { Container } from '../container.js'
import type { WorkerJob } from './worker.js'

/** Every background job of the worker; modules add theirs here. */
export function workerJobs(_container: Container): WorkerJob[] {
  return []
}
