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
import type { AuthorizationConfig } from './config.js'
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
