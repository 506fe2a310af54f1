#!/usr/bin/env node
import { Command } from 'commander'
import { runMigrations, runProcess } from './runtime.js'

const program = new Command()
  .name('coffer')
  .description('Coffer: wallets and a double-entry ledger')
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

program.command('migrate').description('apply pending database migrations and exit').action(runMigrations)

await program.parseAsync(process.argv)
