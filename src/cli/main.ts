#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../auth/auth.schemas.js'
import { runKeysRotate } from './keys.js'
import { runMigrations, runProcess, runVerify } from './runtime.js'
import { runUsersCreate } from './users.js'

const program = new Command()
  .name('coffer')
  .description('Coffer: wallets and a double-entry ledger')
  .version(packageVersion(), '-V, --version', 'print the version and exit')
  .showHelpAfterError()

program
  .command('start', { isDefault: true })
  .description('run the HTTP API and the background worker in one process')
  .action(() => runProcess({ api: true, worker: true }))

program
  .command('serve')
  .description('run the HTTP API only')
  .action(() => runProcess({ api: true, worker: false }))

program
  .command('worker')
  .description('run background work only')
  .action(() => runProcess({ api: false, worker: true }))

program
  .command('verify')
  .description('check every ledger invariant; exit 1 naming each violation')
  .action(runVerify)

program
  .command('users')
  .description('manage users')
  .command('create')
  .description(
    `create a user with the given roles, e.g. the first admin; the password (${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters) comes from standard input, a prompt, or COFFER_USER_PASSWORD`,
  )
  .requiredOption('--email <email>', 'email address')
  .addOption(new Option('--password <password>').hideHelp())
  .option('--role <role...>', 'user, admin or service; repeatable', ['user'])
  .option('--name <name>', 'display name')
  .action(runUsersCreate)

program
  .command('keys')
  .description('manage the token signing keys')
  .command('rotate')
  .description(
    'add a new signing key; the old one stops signing and JWKS keeps publishing it until its last tokens have expired',
  )
  .action(runKeysRotate)

program.command('migrate').description('apply pending database migrations and exit').action(runMigrations)

/** Read when the command runs, from the package.json beside src/ and dist/, so it cannot drift. */
function packageVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  if (typeof manifest === 'object' && manifest !== null && 'version' in manifest) {
    if (typeof manifest.version === 'string') return manifest.version
  }
  throw new Error('package.json has no version')
}

await program.parseAsync(process.argv)
