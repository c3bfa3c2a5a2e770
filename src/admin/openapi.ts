/**
 * The OpenAPI 3.1 document served at /api/docs, built from the route table (so it cannot
 * drift from what is registered) and the body schemas.
 */
import { API_PREFIX, API_ROUTES, type ApiRoute } from './routes.js'
import { SCHEMAS, schemaRef } from './openapi-schemas.js'

type Doc = Record<string, unknown>

const ERROR_TEXT: Record<number, string> = {
  400: 'Validation failed (message and path as for the configuration file, or the query parameter)',
  401: 'Missing or wrong bearer token',
  404: 'No such resource',
  409: 'Conflict (name or priority already used)',
  412: 'Precondition Failed: If-Match names another version (error ERR_PRECONDITION_FAILED; nothing changed)',
}

/** The If-Match request header of a route that honours it (entity-tag.ts). */
const IF_MATCH: Doc = {
  name: 'If-Match', in: 'header', required: false, schema: { type: 'string' },
  description: 'the ETag a GET answered (or `*`): the change is made only if the thing is still that version, else 412 and nothing changes. ' +
    'Optional: without it the change is made whatever the version.',
}

function responseSchema(name: string): Doc {
  return name.endsWith('[]') ? { type: 'array', items: schemaRef(name.slice(0, -2)) } : schemaRef(name)
}

function bodyContent(schema: string, mergePatch: boolean, csv: boolean): Doc {
  const media = { schema: schemaRef(schema) }
  if (csv) return { 'application/json': media, 'text/csv': { schema: { type: 'string', description: 'a header row, then one key per row' } } }
  return mergePatch ? { 'application/merge-patch+json': media, 'application/json': media } : { 'application/json': media }
}

function operation(route: ApiRoute): Doc {
  const params: Doc[] = [...route.url.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }))
  for (const q of route.query ?? []) {
    params.push({
      name: q.name, in: 'query', required: false, description: q.description,
      schema: { type: 'string', ...(q.enum !== undefined ? { enum: [...q.enum] } : {}), ...(q.default !== undefined ? { default: q.default } : {}) },
    })
  }
  if (route.ifMatch === true) params.push(IF_MATCH)
  const status = route.status ?? 200
  const etag = route.etag === undefined ? {} : {
    headers: { ETag: { description: 'the entity tag of the thing as answered: send it as If-Match to change it only if no one else did meanwhile', schema: { type: 'string' } } },
  }
  const responses: Doc = {
    [status]: status === 204
      ? { description: 'Done' }
      : { description: 'OK', ...etag, content: { 'application/json': { schema: responseSchema(route.response ?? 'Error') } } },
  }
  // A change that takes no If-Match answers 400 to one (server.ts).
  const refusesIfMatch = route.method !== 'GET' && route.ifMatch !== true && !route.errors.includes(400)
  for (const code of [...route.errors, 401, ...(route.ifMatch === true ? [412] : []), ...(refusesIfMatch ? [400] : [])].sort()) {
    responses[code] = { description: ERROR_TEXT[code], content: { 'application/json': { schema: schemaRef('Error') } } }
  }
  return {
    operationId: `${route.method.toLowerCase()}${route.url.replace(/[/:-]+([a-z])/g, (_, c: string) => c.toUpperCase())}`,
    summary: route.summary,
    ...(route.description !== undefined ? { description: route.description } : {}),
    tags: [route.tag],
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(route.body !== undefined
      ? { requestBody: { required: true, content: bodyContent(route.body, route.mergePatch === true, route.csv === true) } }
      : {}),
    responses,
  }
}

export function buildOpenApiDocument(version: string): Doc {
  const paths: Record<string, Doc> = {}
  for (const route of API_ROUTES) {
    const path = `${API_PREFIX}${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) }
  }
  paths['/metrics'] = {
    get: {
      operationId: 'getMetrics',
      summary: 'Prometheus metrics (bearer token unless admin.metricsPublic)',
      tags: ['broker'],
      responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, 401: { description: ERROR_TEXT[401] } },
    },
  }
  paths['/healthz'] = {
    get: { operationId: 'getHealth', summary: 'Liveness: the process answers', tags: ['broker'], security: [], responses: { 200: { description: '{"status":"ok"}' } } },
  }
  paths['/readyz'] = {
    get: {
      operationId: 'getReadiness',
      summary: 'Readiness: every MQTT listener is up',
      tags: ['broker'],
      security: [],
      responses: { 200: { description: '{"status":"ready"}' }, 503: { description: '{"status":"starting"} or {"status":"stopping"}' } },
    },
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Portcullis admin API', version, description: 'Management API of the Portcullis MQTT broker. Changes apply to new connections at once and are kept in the data directory.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    tags: [
      { name: 'authenticators', description: 'The authenticator chain (JWT, JWKS)' },
      { name: 'authorization', description: 'Policies and settings' },
      { name: 'clients', description: 'Connected clients and offline persistent sessions' },
      { name: 'topics', description: 'Subscribed topic filters and retained messages (read-only)' },
      { name: 'revocations', description: 'Revoked tokens (by jti, by subject, or issued before a time)' },
      { name: 'devices', description: 'The device registry: devices and their own keys (type: devices authenticators)' },
      { name: 'tools', description: 'Token check' },
      { name: 'broker', description: 'Statistics and metrics' },
    ],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'admin.apiKey (development setup: dataDir/admin-api-key)' } },
      schemas: SCHEMAS,
    },
  }
}
