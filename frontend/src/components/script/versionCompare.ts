/** What changed between two versions, beyond the code: dependencies and parameter definitions. */
import type { ParameterDefinition } from '@/api/scripts'

export interface ListChange {
  added: string[]
  removed: string[]
}

export interface ParamChange {
  name: string
  kind: 'added' | 'removed' | 'changed'
  /** For `changed`: field → [before, after] as display text. */
  fields: Record<string, [string, string]>
}

export function compareLists(before: string[], after: string[]): ListChange {
  return {
    added: after.filter((x) => !before.includes(x)),
    removed: before.filter((x) => !after.includes(x)),
  }
}

function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return '—'
  return typeof value === 'string' ? value : JSON.stringify(value)
}

const FIELDS: (keyof ParameterDefinition)[] = ['type', 'required', 'default', 'choices', 'description']

export function compareParameters(before: ParameterDefinition[], after: ParameterDefinition[]): ParamChange[] {
  const old = new Map(before.map((p) => [p.name, p]))
  const now = new Map(after.map((p) => [p.name, p]))
  const changes: ParamChange[] = []
  for (const p of after) {
    const previous = old.get(p.name)
    if (!previous) {
      changes.push({ name: p.name, kind: 'added', fields: {} })
      continue
    }
    const fields: Record<string, [string, string]> = {}
    for (const field of FIELDS) {
      const a = show(previous[field])
      const b = show(p[field])
      if (a !== b) fields[field] = [a, b]
    }
    if (Object.keys(fields).length) changes.push({ name: p.name, kind: 'changed', fields })
  }
  for (const p of before) if (!now.has(p.name)) changes.push({ name: p.name, kind: 'removed', fields: {} })
  const orderBefore = before.map((p) => p.name).filter((n) => now.has(n))
  const orderAfter = after.map((p) => p.name).filter((n) => old.has(n))
  if (orderBefore.join('\u0000') !== orderAfter.join('\u0000')) {
    changes.push({ name: '(order)', kind: 'changed', fields: { order: [orderBefore.join(', '), orderAfter.join(', ')] } })
  }
  return changes
}
