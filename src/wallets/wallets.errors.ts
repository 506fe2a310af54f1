import { defineError } from '../errors.js'

export const SameWallet = defineError({
  code: 'same_wallet',
  status: 422,
  title: 'Source and destination are the same wallet',
  detail: 'A transfer needs two different wallets',
})

export const TransferTargetRequired = defineError({
  code: 'transfer_target_required',
  status: 422,
  title: 'Exactly one of toWalletId and toUserId is required',
  detail: 'Give the destination as toWalletId or toUserId, not both and not neither',
})

export const WalletNotEmpty = defineError<{ walletId: string }>({
  code: 'wallet_not_empty',
  status: 409,
  title: 'Wallet is not empty',
  detail: (p) => `Wallet ${p.walletId} still holds money or pending holds; only an empty wallet can close`,
  members: ['walletId'],
})

const SELF_MOVEMENTS_HINT =
  'Money enters and leaves the ledger through an admin or a service API key (a payment provider). ' +
  'An operator can let owners move money themselves with SELF_DEPOSITS=true, meant for demos.'

export const SelfDepositDisabled = defineError({
  code: 'self_deposit_disabled',
  status: 403,
  title: "Deposits by the wallet's owner are disabled",
  detail: `This deployment does not let users deposit into their own wallets. ${SELF_MOVEMENTS_HINT}`,
})

export const SelfWithdrawalDisabled = defineError({
  code: 'self_withdrawal_disabled',
  status: 403,
  title: "Withdrawals by the wallet's owner are disabled",
  detail: `This deployment does not let users withdraw from their own wallets to the outside. ${SELF_MOVEMENTS_HINT}`,
})
