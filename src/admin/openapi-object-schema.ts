/**
 * The shape every object schema of the OpenAPI document (/api/docs) has, written once:
 * `{ type: 'object', ...head, properties }`.
 */
type Schema = Record<string, unknown>

/** What an object schema states besides its properties. The document keeps the order the keys are written in. */
export interface ObjectSchemaHead {
  title?: string
  description?: string
  required?: readonly string[]
  additionalProperties?: boolean
}

/** An object schema: objectSchema(properties), or objectSchema(head, properties) with head's keys before the properties. */
export function objectSchema(properties: Schema): Schema
export function objectSchema(head: ObjectSchemaHead, properties: Schema): Schema
export function objectSchema(headOrProperties: ObjectSchemaHead | Schema, properties?: Schema): Schema {
  return properties === undefined ? { type: 'object', properties: headOrProperties } : { type: 'object', ...headOrProperties, properties }
}
