/**
 * Errors of the admin API. Every error answer is `{ error, message, path? }`; the codes
 * are stable (the console and scripts switch on them).
 */
import { ConfigError } from '../errors.js'

export const ApiErrorCodes = {
  ERR_VALIDATION: 400,
  ERR_BAD_REQUEST: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  ERR_CONFLICT: 409,
  /** If-Match named another version of the thing (entity-tag.ts). */
  ERR_PRECONDITION_FAILED: 412,
  ERR_PAYLOAD_TOO_LARGE: 413,
  ERR_UNAVAILABLE: 503,
  ERR_INTERNAL: 500,
} as const

export type ApiErrorCode = keyof typeof ApiErrorCodes

export class ApiError extends Error {
  readonly code: ApiErrorCode
  readonly path: string | undefined
  /** Extra members of the answer (a bulk import's per-row `errors`). */
  readonly details: Readonly<Record<string, unknown>> | undefined
  constructor(code: ApiErrorCode, message: string, path?: string, details?: Readonly<Record<string, unknown>>) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.path = path
    this.details = details
  }

  get status(): number {
    return ApiErrorCodes[this.code]
  }

  static fromConfig(err: ConfigError): ApiError {
    return new ApiError('ERR_VALIDATION', err.message, err.path)
  }
}

export interface ApiErrorBody {
  readonly error: ApiErrorCode
  readonly message: string
  readonly path?: string
}

export function errorBody(err: ApiError): ApiErrorBody {
  const body = err.path === undefined ? { error: err.code, message: err.message } : { error: err.code, message: err.message, path: err.path }
  return err.details === undefined ? body : { ...err.details, ...body }
}
