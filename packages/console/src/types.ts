import type { paths } from '../../client/src/schema'

/** Bodies of the API, named for the console, taken from the generated OpenAPI types. */
type JsonOf<T> = T extends { content: { 'application/json': infer Body } } ? Body : never

export type Wallet = JsonOf<paths['/api/v1/wallets/{id}']['get']['responses'][200]>
export type Currency = JsonOf<paths['/api/v1/currencies']['get']['responses'][200]>['items'][number]
export type HistoryPage = JsonOf<paths['/api/v1/wallets/{id}/transactions']['get']['responses'][200]>
export type HistoryItem = HistoryPage['items'][number]
export type Transaction = JsonOf<paths['/api/v1/transactions/{id}']['get']['responses'][200]>
export type Hold = JsonOf<paths['/api/v1/holds/{id}']['get']['responses'][200]>
export type PointsSummary = JsonOf<paths['/api/v1/points']['get']['responses'][200]>
export type PointsLot = JsonOf<paths['/api/v1/points/lots']['get']['responses'][200]>['items'][number]
export type PointsHistoryPage = JsonOf<paths['/api/v1/points/transactions']['get']['responses'][200]>
export type StatementJob = JsonOf<paths['/api/v1/statements/{jobId}']['get']['responses'][200]>
export type ApiKey = JsonOf<paths['/api/v1/api-keys']['get']['responses'][200]>['items'][number]
export type CreatedApiKey = JsonOf<paths['/api/v1/api-keys']['post']['responses'][201]>
export type FxRate = JsonOf<paths['/api/v1/fx-rates']['get']['responses'][200]>['items'][number]
export type Me = JsonOf<paths['/api/v1/auth/me']['get']['responses'][200]>
export type Role = Me['roles'][number]
