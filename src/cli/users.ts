import { createInterface } from 'node:readline'
import { read } from 'read'
import { EmailTaken } from '../auth/auth.errors.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, type User } from '../auth/auth.schemas.js'
import type { AuthService } from '../auth/auth.service.js'
import { ROLES, type Role } from '../auth/principal.js'
import { createLogger } from '../logger.js'
import { configOrExit, containerOrExit } from './runtime.js'

export interface CreateUserOptions {
  email: string
  password: string
  role: string[]
  name?: string
}

/** A mistake in the command line, reported as is and exit code 2. */
export class UsageError extends Error {}

/** `coffer users create`: the same rules as registration, with any roles; the first admin comes from here. */
export async function createUserFromCommandLine(
  auth: AuthService,
  options: CreateUserOptions,
): Promise<User> {
  const unknown = options.role.filter((role) => !(ROLES as readonly string[]).includes(role))
  if (unknown.length > 0) throw new UsageError(`unknown role ${unknown.join(', ')}; use ${ROLES.join(', ')}`)
  const email = options.email.trim()
  if (!/^[^\s@]+@[^\s@]+$/.test(email))
    throw new UsageError(`${JSON.stringify(email)} is not an email address`)
  const length = [...options.password].length
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw new UsageError(`the password must have ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`)
  }
  try {
    return await auth.createUser({
      email,
      password: options.password,
      name: options.name,
      roles: [...new Set(options.role as Role[])],
    })
  } catch (error) {
    if (error instanceof EmailTaken) throw new UsageError(`a user with email ${email} already exists`)
    throw error
  }
}

/** How to pass the password, for the messages that ask for it. */
const PASSWORD_SOURCES =
  "pipe it on standard input (printf '%s\\n' 'a long passphrase' | coffer users create ...), type it at the prompt, or set COFFER_USER_PASSWORD"

export interface InteractiveInput extends NodeJS.ReadableStream {
  isTTY?: boolean
}

/**
 * The password of `coffer users create`: typed at a prompt that does not echo it when standard
 * input is a terminal (twice, since nobody sees a typo), else the first line of standard input.
 * Never an argument: arguments show in `ps` and in shell history.
 */
export async function readPassword(
  input: InteractiveInput,
  prompts: NodeJS.WritableStream & { isTTY?: boolean },
): Promise<string> {
  if (input.isTTY) {
    const prompt = async (text: string) => {
      const typed = await read({
        prompt: text,
        silent: true,
        replace: '',
        input,
        output: prompts,
        terminal: true,
      }).catch((error: unknown) => {
        // Ctrl-C at the prompt: a person's choice, told as such rather than as a crash.
        prompts.write('\n')
        if (error instanceof Error && error.message === 'canceled') throw new UsageError('cancelled')
        throw error
      })
      // The Enter was not echoed either: end the prompt's line so the next output starts on its own.
      prompts.write('\n')
      return typed
    }
    const password = await prompt('Password:')
    if (password !== (await prompt('Password again:'))) throw new UsageError('the two passwords differ')
    return password
  }
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
  try {
    for await (const line of lines) return line
  } finally {
    lines.close()
  }
  throw new UsageError(`no password on standard input: ${PASSWORD_SOURCES}`)
}

export interface UsersCreateCommand {
  email: string
  role: string[]
  name?: string
  /** Refused: only here so that its use gets a message saying what to do instead. */
  password?: string
}

export async function runUsersCreate(command: UsersCreateCommand): Promise<void> {
  if (command.password !== undefined) {
    process.stderr.write(
      `coffer: --password is not accepted, since arguments show in ps and in shell history; ${PASSWORD_SOURCES}\n`,
    )
    process.exitCode = 2
    return
  }
  const config = configOrExit()
  let password: string
  try {
    // Before the database is opened, so a prompt waiting for a person holds no lock.
    password = config.COFFER_USER_PASSWORD ?? (await readPassword(process.stdin, process.stderr))
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`coffer: ${error.message}\n`)
    process.exitCode = 2
    return
  }
  const logger = createLogger({ LOG_LEVEL: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL })
  const container = await containerOrExit(config, logger, {
    whenDataDirInUse:
      'to add a user, stop it and run this again, or restart it with COFFER_ADMIN_EMAIL and COFFER_ADMIN_PASSWORD to create an admin at start-up',
  })
  try {
    const user = await createUserFromCommandLine(container.auth, { ...command, password })
    process.stdout.write(`${JSON.stringify(user)}\n`)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`coffer: ${error.message}\n`)
    process.exitCode = 2
  } finally {
    await container.close()
  }
}
