import pino, { type Logger } from 'pino'
import type { Config } from './config.js'

/** JSON logs; credentials and secrets are redacted wherever they appear in a logged object. */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL'>,
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level: config.LOG_LEVEL,
      base: { service: 'coffer' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'password',
          '*.password',
          'refreshToken',
          '*.refreshToken',
          'accessToken',
          '*.accessToken',
          'apiKey',
          '*.apiKey',
          'JWT_PRIVATE_KEY',
          '*.JWT_PRIVATE_KEY',
          'COFFER_ADMIN_PASSWORD',
          '*.COFFER_ADMIN_PASSWORD',
          'privateKey',
          '*.privateKey',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  )
}
