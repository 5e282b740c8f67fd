import type { LocationQuery, LocationQueryValue, Router } from 'vue-router'

/**
 * The route query is where a list keeps its filters, search text and page, so a reload, the back
 * button or a shared link shows the same rows. These read one value safely (first of repeated keys,
 * nothing unexpected) and write a patch back, dropping empty values.
 */
type QueryValue = LocationQueryValue | LocationQueryValue[] | undefined

export function queryText(value: QueryValue): string {
  const v = Array.isArray(value) ? value[0] : value
  return typeof v === 'string' ? v : ''
}

export function queryPositive(value: QueryValue): number | null {
  const n = Number(queryText(value))
  return Number.isInteger(n) && n > 0 ? n : null
}

export function queryOneOf<T extends string>(value: QueryValue, allowed: readonly T[]): T | null {
  const s = queryText(value)
  return (allowed as readonly string[]).includes(s) ? (s as T) : null
}

/** `page` is dropped unless the patch sets it: a changed filter starts again on page 1. */
export function patchedQuery(current: LocationQuery, patch: Record<string, string | number | null | undefined>) {
  const query: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...current, page: undefined, ...patch })) {
    const v = Array.isArray(value) ? value[0] : value
    if (v !== null && v !== undefined && v !== '') query[key] = String(v)
  }
  return query
}

export function replaceQuery(router: Router, patch: Record<string, string | number | null | undefined>): Promise<unknown> {
  return router.replace({ query: patchedQuery(router.currentRoute.value.query, patch) })
}
