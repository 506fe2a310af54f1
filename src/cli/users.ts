import { ROLES, type Role } from '../auth/access.js'
import { EmailTaken } from '../auth/auth.errors.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, type User } from '../auth/auth.schemas.js'
import type { AuthService } from '../auth/auth.service.js'
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

export async function runUsersCreate(options: CreateUserOptions): Promise<void> {
  const config = configOrExit()
  const logger = createLogger({ LOG_LEVEL: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL })
  const container = await containerOrExit(config, logger)
  try {
    const user = await createUserFromCommandLine(container.auth, options)
    process.stdout.write(`${JSON.stringify(user)}\n`)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`coffer: ${error.message}\n`)
    process.exitCode = 2
  } finally {
    await container.close()
  }
}
