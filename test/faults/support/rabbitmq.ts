import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { command, freePort, until } from './processes.js'

/**
 * A RabbitMQ node of the test's own (its own node name, port, data and log directories, no
 * plugins), so a test can stop the broker without touching the shared one on 5672. The node
 * runs as the `rabbitmq` user, as the packaged scripts do, and shares its Erlang cookie.
 */
export interface ThrowawayRabbitMq {
  url: string
  /** `rabbitmqctl stop_app`: the broker closes every connection and refuses new ones; data kept. */
  stopApp(): Promise<void>
  startApp(): Promise<void>
  stop(): Promise<void>
}

const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin'
const RABBITMQ_HOME = '/var/lib/rabbitmq'

export async function startThrowawayRabbitMq(): Promise<ThrowawayRabbitMq> {
  const asRoot = process.getuid?.() === 0
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-faults-rabbitmq-'))
  const port = await freePort()
  const distPort = await freePort()
  const node = `coffer-fault-${randomUUID().slice(0, 8)}@localhost`
  await writeFile(path.join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${port}\n`)
  await writeFile(path.join(dir, 'enabled_plugins'), '[].\n')
  // An empty env file, so the shared node's rabbitmq-env.conf (its NODENAME) does not apply.
  await writeFile(path.join(dir, 'rabbitmq-env.conf'), '\n')
  if (asRoot) {
    const uid = Number((await command('id', ['-u', 'rabbitmq'])).trim())
    const gid = Number((await command('id', ['-g', 'rabbitmq'])).trim())
    for (const file of ['', 'rabbitmq.conf', 'enabled_plugins', 'rabbitmq-env.conf']) {
      await chown(path.join(dir, file), uid, gid)
    }
  }
  const env = {
    HOME: RABBITMQ_HOME,
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: path.join(dir, 'plugins'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  }
  const envArgs = Object.entries(env).map(([name, value]) => `${name}=${value}`)
  const asRabbitmq = (file: string): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'rabbitmq', '--', 'env', ...envArgs, file]] : ['env', [...envArgs, file]]
  const ctl = (args: string[]) => {
    const [file, prefix] = asRabbitmq(path.join(RABBITMQ_BIN, 'rabbitmqctl'))
    return command(file, [...prefix, '-n', node, ...args])
  }

  const [file, args] = asRabbitmq(path.join(RABBITMQ_BIN, 'rabbitmq-server'))
  const server: ChildProcess = spawn(file, args, { stdio: 'ignore', cwd: dir })
  let exited = false
  server.once('exit', () => {
    exited = true
  })
  const stop = async () => {
    if (!exited) {
      await ctl(['stop']).catch(() => server.kill('SIGKILL'))
      for (let i = 0; i < 100 && !exited; i++) await sleep(100)
      if (!exited) server.kill('SIGKILL')
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await until(
      async () => {
        if (exited) throw new Error('rabbitmq-server exited during start-up')
        await ctl(['await_startup', '--timeout', '5'])
        return true
      },
      `RabbitMQ node ${node}`,
      60_000,
    )
  } catch (error) {
    await stop()
    throw error
  }
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    stopApp: async () => {
      await ctl(['stop_app'])
    },
    startApp: async () => {
      await ctl(['start_app'])
    },
    stop,
  }
}
