/** Authorization: configuration, the authorizers, and the chain factory. */
export type { Authorizer, AuthzAction, AuthzDecision, AuthzSubject, ClientAuthz, ClientRules, QoS } from './types.js'
export { AuthorizerChain } from './chain.js'
export {
  type AuthorizationConfig,
  authorizationWarning,
  DEFAULT_AUTHORIZATION,
  parseAuthorizationConfig,
  type PolicyConfig,
  type WarningContext,
} from './config.js'
export { createAuthorizerChain, type CreateAuthorizerChainOptions } from './create.js'
export { type AclParseResult, ClaimsAuthorizer, type ClaimsAuthorizerOptions, parseAclClaim } from './acl-claim.js'
export { PolicyAuthorizer } from './policy.js'
export { SuperuserAuthorizer } from './superuser.js'
export { DollarTopicsAuthorizer } from './dollar-topics.js'
export { filterCovers, filtersOverlap, isValidTopicFilter, topicMatches } from './topic-match.js'
export { parseTopicTemplate, type PlaceholderContext, renderTopicTemplate } from './placeholders.js'
