import { defineError } from '../http/errors.js'

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
  extensions: (p) => ({ walletId: p.walletId }),
})
