import { createLogger } from '../logger.js'
import { configOrExit, containerOrExit } from './runtime.js'

/**
 * `coffer keys rotate`: a new token signing key; the old one stops signing and stays in JWKS
 * until its last tokens have expired. Prints the new and previous kid as JSON.
 */
export async function runKeysRotate(): Promise<void> {
  const config = configOrExit()
  if (config.JWT_PRIVATE_KEY) {
    process.stderr.write(
      'coffer: the signing key comes from JWT_PRIVATE_KEY; rotate it there (and keep publishing the old public key until its tokens expire)\n',
    )
    process.exitCode = 2
    return
  }
  const logger = createLogger({ LOG_LEVEL: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL })
  const container = await containerOrExit(config, logger, {
    whenDataDirInUse: 'to rotate the signing key of the embedded database, stop it and run this again',
  })
  try {
    const rotated = await container.auth.signingKeys.rotate()
    process.stdout.write(
      `${JSON.stringify({
        kid: rotated.kid,
        previousKid: rotated.previousKid,
        previousPublishedUntil: rotated.previousPublishedUntil?.toISOString() ?? null,
      })}\n`,
    )
  } finally {
    await container.close()
  }
}
