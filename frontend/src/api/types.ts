/**
 * Shortcuts into the types generated from the backend's OpenAPI document (`schema.d.ts`, written
 * by `make api-types`): the API modules name their types from these instead of restating them.
 */
import type { components, paths } from './schema'

/** The document's models, e.g. `Schemas['ExecutionOut']`. */
export type Schemas = components['schemas']

/** The query parameters of `GET <path>`, e.g. `GetQuery<'/api/executions'>`. */
export type GetQuery<P extends keyof paths> = paths[P] extends { get: { parameters: { query?: infer Q } } }
  ? NonNullable<Q>
  : never

/** A query whose filters may also be blank ('' or null: left out of the URL by `buildUrl`). */
export type Blankable<Q> = { [K in keyof Q]?: Q[K] | '' | null }
