/** The app shell's containment badge: what `/api/health` says holds a run in, as words and a level. */
import type { Health } from '@/api/system'

export type ContainmentLevel = 'ok' | 'warning'

export interface ContainmentLine {
  key: 'cgroup' | 'run-as' | 'sandbox'
  label: string
  value: string
  /** This line is a reason for the warning colour. */
  warn: boolean
}

export interface ContainmentView {
  /** Compact: "cgroup v1 · bwrap", "no cgroup", "cgroup v2 · bwrap unavailable". */
  label: string
  level: ContainmentLevel
  /** The badge's accessible name (the label is hidden on narrow screens). */
  summary: string
  lines: ContainmentLine[]
  /** Sentences, capitalised: the server's warnings, and an unusable sandbox. */
  warnings: string[]
  /** "Scriptman 0.1.0 · local executor", or '' when unknown. */
  footer: string
}

/** The first letter upper-cased: the server writes its warnings as lower-case clauses. */
export function sentence(text: string): string {
  const trimmed = text.trim()
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1)
}

/** "cgroup v1 · bwrap", "no cgroup", "cgroup v2 · bwrap unavailable". */
export function containmentLabel(health: Pick<Health, 'sandbox' | 'containment'>): string {
  const cgroup = health.containment?.cgroup
  const parts = [!cgroup ? 'containment unknown' : cgroup === 'none' ? 'no cgroup' : `cgroup ${cgroup}`]
  if (health.sandbox?.mode === 'bwrap') parts.push(health.sandbox.available ? 'bwrap' : 'bwrap unavailable')
  return parts.join(' · ')
}

function sandboxLine(sandbox: Health['sandbox'] | undefined): ContainmentLine {
  const line: ContainmentLine = { key: 'sandbox', label: 'Sandbox', value: 'unknown', warn: false }
  if (!sandbox) return line
  if (sandbox.mode !== 'bwrap') return { ...line, value: `none: ${sandbox.detail || 'runs are not sandboxed'}` }
  if (sandbox.available) return { ...line, value: 'bubblewrap' }
  return { ...line, value: `bubblewrap, unusable: ${sandbox.detail || 'unknown reason'}`, warn: true }
}

/** Everything the badge and its popover show. */
export function describeContainment(health: Health): ContainmentView {
  const containment = health.containment
  const sandbox = sandboxLine(health.sandbox)
  const warnings = (containment?.warnings || []).filter((w) => w.trim()).map(sentence)
  if (sandbox.warn) {
    warnings.push(`The bwrap sandbox is configured but unusable (${health.sandbox.detail}): runs cannot start until it works`)
  }
  if (!containment) warnings.push('The server does not report its run containment (an older version?)')
  const lines: ContainmentLine[] = [
    { key: 'cgroup', label: 'cgroup', value: containment?.cgroup_detail || containment?.cgroup || 'unknown', warn: containment?.cgroup === 'none' },
    { key: 'run-as', label: 'Runs as', value: containment?.run_as_user || 'unknown', warn: /^root\b/.test(containment?.run_as_user || '') },
    sandbox,
  ]
  const level: ContainmentLevel = warnings.length ? 'warning' : 'ok'
  const label = containmentLabel(health)
  const count = warnings.length === 1 ? '1 warning' : `${warnings.length} warnings`
  return {
    label,
    level,
    summary: `Run containment: ${label}${warnings.length ? `, ${count}` : ''}`,
    lines,
    warnings,
    footer: health.version ? `Scriptman ${health.version}${health.executor ? ` · ${health.executor} executor` : ''}` : '',
  }
}

/** The badge when `/api/health` could not be read. */
export function unknownContainment(reason: string): ContainmentView {
  return {
    label: 'status unknown',
    level: 'warning',
    summary: 'Run containment: status unknown',
    lines: [],
    warnings: [sentence(`the server's health could not be read: ${reason || 'no answer'}`)],
    footer: '',
  }
}
