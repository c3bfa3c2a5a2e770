/**
 * Build the authorizer chain from the `authorization` configuration.
 *
 * Order (first source that does not ignore decides):
 * 1. superuser claim (when `superuserClaim` is set) — allows everything for that client;
 * 2. the token's ACL claim — the token issuer's word for this client comes first, as the
 *    issue asks ("ACL from the token", then "Policies") and as EMQX does;
 * 3. the configured policies, by priority — connect rules live only here, so a connect
 *    deny policy applies to every client, superusers included;
 * 4. `$`-topic guard — a subscription reaching `$`-topics that nobody allowed is refused
 *    even with `noMatch: allow`;
 * then `noMatch` decides publish and subscribe.
 */
import { ClaimsAuthorizer } from './acl-claim.js'
import { AuthorizerChain } from './chain.js'
import type { Logger } from '../log.js'
import { authorizationWarning, type AuthorizationConfig } from './config.js'
import { DollarTopicsAuthorizer } from './dollar-topics.js'
import { PolicyAuthorizer } from './policy.js'
import { SuperuserAuthorizer } from './superuser.js'
import type { Authorizer, AuthzSubject } from './types.js'

export interface CreateAuthorizerChainOptions {
  /** Called when a client's ACL claim cannot be read (log it: the client is refused by that source). */
  readonly onAclProblem?: (subject: AuthzSubject, reason: string) => void
}

export function createAuthorizerChain(
  config: AuthorizationConfig,
  options: CreateAuthorizerChainOptions = {},
): AuthorizerChain {
  const authorizers: Authorizer[] = []
  if (config.superuserClaim !== undefined) authorizers.push(new SuperuserAuthorizer(config.superuserClaim))
  authorizers.push(new ClaimsAuthorizer({ aclClaim: config.aclClaim, onProblem: options.onAclProblem }))
  if (config.policies.length > 0) authorizers.push(new PolicyAuthorizer(config.policies))
  authorizers.push(new DollarTopicsAuthorizer())
  return new AuthorizerChain(authorizers, { noMatch: config.noMatch })
}

/**
 * The chain for `config` as the broker runs it, at start-up and after every change through
 * the admin API: unreadable ACL claims logged as warnings, and a configuration that refuses
 * everything said so in the log. `tokens`: whether some authenticator can admit clients with
 * token claims.
 */
export function authorizersFor(config: AuthorizationConfig, options: { readonly logger: Logger; readonly tokens: boolean }): AuthorizerChain {
  const { logger } = options
  const chain = createAuthorizerChain(config, {
    onAclProblem: (subject, reason) => logger.warn({ clientId: subject.clientId }, `ACL claim unusable: ${reason}`),
  })
  const warning = authorizationWarning(config, { tokens: options.tokens })
  if (warning !== undefined) logger.warn(warning)
  return chain
}
