import { type ChildProcess, spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '../faults/support/processes.js'

/** PgBouncer in transaction pooling mode in front of one database of the primary. */
export interface Bouncer {
  port: number
  /** `upstream` with PgBouncer's port. */
  url: string
  output(): string
  stop(): Promise<void>
}

/**
 * As test/db/pgbouncer.services.test.ts: Debian's 1.18 (no prepared-statement tracking), trust,
 * fewer server connections than Coffer's processes hold between them, so transactions of
 * different processes share them. It refuses to run as root: as postgres when we are root.
 */
export async function startBouncer(upstream: string, serverConnections: number): Promise<Bouncer> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'coffer-cluster-pgbouncer-'))
  await chmod(dir, 0o777)
  const url = new URL(upstream)
  const name = url.pathname.slice(1)
  const config = [
    '[databases]',
    `${name} = host=${url.hostname} port=${url.port || 5432} dbname=${name}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${serverConnections}`,
    'max_client_conn = 500',
    `unix_socket_dir = ${dir}`,
    `pidfile = ${join(dir, 'pgbouncer.pid')}`,
  ].join('\n')
  await writeFile(join(dir, 'pgbouncer.ini'), `${config}\n`, { mode: 0o644 })
  await writeFile(join(dir, 'users.txt'), `"${decodeURIComponent(url.username || 'postgres')}" ""\n`, {
    mode: 0o644,
  })
  const asUser = process.getuid?.() === 0 ? ['-u', 'postgres'] : []
  const child: ChildProcess = spawn('pgbouncer', [...asUser, join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += String(chunk)))
  child.stderr?.on('data', (chunk) => (output += String(chunk)))
  let exited = false
  child.once('exit', () => {
    exited = true
  })
  const through = new URL(upstream)
  through.port = String(port)
  return {
    port,
    url: through.toString(),
    output: () => output,
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM')
        for (let i = 0; i < 50 && !exited; i++) await sleep(100)
        if (!exited) child.kill('SIGKILL')
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}
