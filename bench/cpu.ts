import { readdir, readFile } from 'node:fs/promises'
import os from 'node:os'

/**
 * Who used the CPU during a run, from Linux's /proc: the Coffer process, PostgreSQL's backends,
 * the load generator (this process and pgbench) and everything else. On a shared 2-core machine
 * "everything else" says whether the figures can be trusted; elsewhere these are all null.
 */
export type CpuOwner = 'coffer' | 'postgres' | 'load generator' | 'other'

interface Snapshot {
  /** Ticks of all CPUs, busy or idle, since boot. */
  totalTicks: number
  idleTicks: number
  processTicks: Map<number, { owner: CpuOwner; ticks: number }>
  /** Write syscalls (write, writev, send...) of the Coffer process so far. */
  cofferWriteSyscalls: number | null
}

export interface CpuUse {
  /** Cores each owner kept busy on average (2 is all of a 2-core machine). */
  cores: Record<CpuOwner, number>
  idleCores: number
  /** Write syscalls the Coffer process made, per response it sent. */
  cofferWritesPerRequest: number | null
  /** CPU milliseconds (user + system) the Coffer process spent per response it sent. */
  cofferCpuMsPerRequest: number | null
}

/** Linux's USER_HZ: /proc/<pid>/stat counts utime and stime in these ticks on every architecture. */
const TICKS_PER_SECOND = 100

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8')
  } catch {
    return null
  }
}

export async function cpuSnapshot(cofferPid: number | null): Promise<Snapshot | null> {
  const stat = await readText('/proc/stat')
  if (stat === null) return null
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  const totalTicks = fields.slice(0, 8).reduce((a, b) => a + b, 0)
  const idleTicks = (fields[3] ?? 0) + (fields[4] ?? 0)

  const processTicks = new Map<number, { owner: CpuOwner; ticks: number }>()
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number)
  await Promise.all(
    pids.map(async (pid) => {
      const text = await readText(`/proc/${pid}/stat`)
      if (text === null) return
      const close = text.lastIndexOf(')')
      const command = text.slice(text.indexOf('(') + 1, close)
      const rest = text.slice(close + 2).split(' ')
      // after the command: state, ppid, ... utime is the 12th and stime the 13th
      const ticks = Number(rest[11]) + Number(rest[12])
      const owner: CpuOwner =
        pid === cofferPid
          ? 'coffer'
          : command === 'postgres'
            ? 'postgres'
            : pid === process.pid || command === 'pgbench'
              ? 'load generator'
              : 'other'
      processTicks.set(pid, { owner, ticks })
    }),
  )
  let cofferWriteSyscalls: number | null = null
  if (cofferPid !== null) {
    const io = await readText(`/proc/${cofferPid}/io`)
    const syscw = io === null ? undefined : /syscw: (\d+)/.exec(io)?.[1]
    cofferWriteSyscalls = syscw === undefined ? null : Number(syscw)
  }
  return { totalTicks, idleTicks, processTicks, cofferWriteSyscalls }
}

export function cpuUse(
  before: Snapshot | null,
  after: Snapshot | null,
  requests: number | null,
): CpuUse | null {
  if (before === null || after === null) return null
  const elapsed = after.totalTicks - before.totalTicks
  if (elapsed <= 0) return null
  const cpus = os.availableParallelism()
  const cores: Record<CpuOwner, number> = { coffer: 0, postgres: 0, 'load generator': 0, other: 0 }
  let counted = 0
  let cofferTicks = 0
  for (const [pid, now] of after.processTicks) {
    // A process that started during the run is counted from zero.
    const used = now.ticks - (before.processTicks.get(pid)?.ticks ?? 0)
    if (used <= 0) continue
    if (now.owner === 'coffer') cofferTicks += used
    cores[now.owner] += used
    counted += used
  }
  const busy = elapsed - (after.idleTicks - before.idleTicks)
  // Processes that came and went during the run are gone from /proc: their share is in busy only.
  cores.other += Math.max(0, busy - counted)
  for (const owner of Object.keys(cores) as CpuOwner[]) cores[owner] = (cores[owner] / elapsed) * cpus
  const writes =
    before.cofferWriteSyscalls !== null && after.cofferWriteSyscalls !== null && requests
      ? (after.cofferWriteSyscalls - before.cofferWriteSyscalls) / requests
      : null
  return {
    cores,
    idleCores: ((after.idleTicks - before.idleTicks) / elapsed) * cpus,
    cofferWritesPerRequest: writes,
    cofferCpuMsPerRequest: requests ? (cofferTicks * 1000) / TICKS_PER_SECOND / requests : null,
  }
}

export interface RssSamples {
  /** VmRSS in MB when sampling began, and the highest seen. */
  startMB: number
  peakMB: number
  samples: number
}

/**
 * Samples a process's VmRSS every `everyMs` until stop() is called: the peak under a load, which
 * VmHWM (the peak since the process started) cannot give for one scenario. Null off Linux.
 */
export function sampleRss(pid: number, everyMs = 200): { stop(): Promise<RssSamples | null> } {
  const seen: number[] = []
  let running = true
  const read = async () => {
    const status = await readText(`/proc/${pid}/status`)
    const kib = status === null ? undefined : /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
    if (kib !== undefined) seen.push(Number(kib) / 1024)
  }
  const loop = (async () => {
    while (running) {
      await read()
      await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
    await read()
  })()
  return {
    async stop() {
      running = false
      await loop
      if (seen.length === 0) return null
      return { startMB: seen[0]!, peakMB: Math.max(...seen), samples: seen.length }
    },
  }
}

export function formatCpuUse(use: CpuUse): string {
  const c = use.cores
  const f = (n: number) => n.toFixed(2)
  return (
    `CPU cores busy: coffer ${f(c.coffer)}, postgres ${f(c.postgres)}, load generator ${f(c['load generator'])}, ` +
    `other processes ${f(c.other)}, idle ${f(use.idleCores)}` +
    (use.cofferCpuMsPerRequest === null
      ? ''
      : `; coffer CPU ${use.cofferCpuMsPerRequest.toFixed(3)} ms per request`) +
    (use.cofferWritesPerRequest === null
      ? ''
      : `; coffer write syscalls per request ${use.cofferWritesPerRequest.toFixed(1)}`)
  )
}
