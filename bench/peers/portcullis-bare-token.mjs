// Portcullis (compiled, dist/) with its authenticator chain holding one bare token check
// (bare-token-check.mjs) instead of the configured authenticators, for the benchmark harness:
// the same broker as `portcullis+ALG` but for the token path, so the difference between the two
// is what Portcullis's own token checks (kid and alg rules, claims, verified-token cache,
// counters) cost beyond the least a correct check does.
//   node bench/peers/portcullis-bare-token.mjs CONFIG --jwt-alg ALG --jwt-key FILE
// Exits on SIGTERM / SIGINT.
import { parseArgs } from 'node:util'
import { createServer, loadConfigFile } from '../../dist/index.js'
import { bareTokenCheck } from './bare-token-check.mjs'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'jwt-alg': { type: 'string' }, 'jwt-key': { type: 'string' } } })
const check = bareTokenCheck(values['jwt-alg'], values['jwt-key'])
/** @type {import('../../dist/index.js').Authenticator} */
const bare = {
  name: 'bare', type: 'bare', enabled: true, authMethods: [], tokenFrom: 'username',
  authenticate(credentials) {
    const claims = credentials.username !== undefined ? check(credentials.username) : undefined
    if (claims === undefined) return { result: 'ignore' }
    return { result: 'allow', identity: { authenticator: 'bare', anonymous: false, claims, expiresAt: claims.exp * 1000 } }
  },
}
const server = await createServer(await loadConfigFile(positionals[0]))
server.broker.auth.replace([bare])
const stop = () => { server.close().then(() => process.exit(0), () => process.exit(1)) }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
