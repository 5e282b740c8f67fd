/** The editor's form model: from a script, to the API's input, dirty snapshots and server errors. */
import { ProblemError } from '@/api/http'
import type { ConcurrencyPolicy, Language, Script, ScriptInput, ScriptLimits } from '@/api/scripts'
import type { Subscription } from '@/api/notifications'
import type { Health } from '@/api/system'
import { copySubscriptions, subscriptionProblems } from '@/components/notifications/subscriptions'
import { cleanMessage, fromDrafts, normalizeField, toDraft, type FieldErrors, type ParamDraft } from '@/utils/params'

export interface ScriptForm {
  name: string
  language: Language
  description: string
  code: string
  dependencies: string[]
  parameters: ParamDraft[]
  tags: string[]
  folder: string
  timeout_seconds: number | null
  max_concurrent: number | null
  concurrency_policy: ConcurrencyPolicy
  max_retries: number
  retry_delay_seconds: number
  enabled: boolean
  limits: ScriptLimits
  sandbox_network: boolean
  /** The account the runs use; '' = the server's default. Only admins may change it. */
  run_as_user: string
  /** Which notification channels hear of its runs, on which events. */
  notifications: Subscription[]
  /** Scripts started when a run succeeds / fails (ids). */
  on_success: number[]
  on_failure: number[]
  /** Names of the shared variables its runs receive. */
  variables: string[]
}

export const LANGUAGES: { value: Language; label: string }[] = [
  { value: 'python', label: 'Python' },
  { value: 'javascript', label: 'JavaScript' },
  { value: 'shell', label: 'Shell' },
]

export const TEMPLATES: Record<Language, string> = {
  python: `import os

# Parameters arrive as environment variables (all of them as JSON in SCRIPT_PARAMETERS).
name = os.environ.get("NAME", "world")
print(f"Hello, {name}!")
`,
  javascript: `// Parameters arrive as environment variables (all of them as JSON in SCRIPT_PARAMETERS).
const name = process.env.NAME ?? 'world'
console.log(\`Hello, \${name}!\`)
`,
  shell: `#!/usr/bin/env bash
set -euo pipefail

# Parameters arrive as environment variables (all of them as JSON in SCRIPT_PARAMETERS).
echo "Hello, \${NAME:-world}!"
`,
}

const NO_LIMITS: ScriptLimits = { memory_mb: null, cpu_seconds: null, file_size_mb: null, open_files: null, processes: null }

export function emptyForm(language: Language = 'python'): ScriptForm {
  return {
    name: '',
    language,
    description: '',
    code: TEMPLATES[language],
    dependencies: [],
    parameters: [],
    tags: [],
    folder: '',
    timeout_seconds: null,
    max_concurrent: null,
    concurrency_policy: 'queue',
    max_retries: 0,
    retry_delay_seconds: 0,
    enabled: true,
    limits: { ...NO_LIMITS },
    sandbox_network: true,
    run_as_user: '',
    notifications: [],
    on_success: [],
    on_failure: [],
    variables: [],
  }
}

export function formFromScript(script: Script): ScriptForm {
  return {
    name: script.name,
    language: script.language,
    description: script.description,
    code: script.code,
    dependencies: [...script.dependencies],
    parameters: script.parameters.map(toDraft),
    tags: [...script.tags],
    folder: script.folder,
    timeout_seconds: script.timeout_seconds,
    max_concurrent: script.max_concurrent,
    concurrency_policy: script.concurrency_policy,
    max_retries: script.max_retries,
    retry_delay_seconds: script.retry_delay_seconds,
    enabled: script.enabled,
    limits: { ...NO_LIMITS, ...(script.limits || {}) },
    sandbox_network: script.sandbox_network,
    run_as_user: script.run_as_user ?? '',
    // absent in answers from a server before issue 15
    notifications: copySubscriptions(script.notifications),
    on_success: [...(script.on_success ?? [])],
    on_failure: [...(script.on_failure ?? [])],
    variables: [...(script.variables ?? [])],
  }
}

const nullIfEmpty = (v: number | null | undefined) => (v === undefined || v === null || Number.isNaN(v) ? null : v)

/** A POSIX account name, as the server checks it. */
const RUN_AS_PATTERN = /^[a-z_][a-z0-9_-]*\$?$/
export const RUN_AS_MAX = 32

/** The run-as account to send: null for the server's default, else the name (trimmed). */
export function runAsToInput(value: string | null | undefined): string | null {
  return value?.trim() || null
}

/** Why a run-as account name would be refused, or null. */
export function runAsProblem(value: string | null | undefined): string | null {
  const name = runAsToInput(value)
  if (name === null) return null
  if (name.length > RUN_AS_MAX) return `At most ${RUN_AS_MAX} characters`
  if (!RUN_AS_PATTERN.test(name)) return 'An account name: lowercase letters, digits, _ and -, not starting with a digit or -'
  return null
}

export interface InputOptions {
  /**
   * Send `run_as_user` (admins only). Otherwise it is left out, which keeps the script's value on
   * a save (and the default on a create), so an editor's save never trips the admin-only check.
   */
  canSetRunAs?: boolean
}

/** The body to send, or the problems found before sending (keyed like the server's fields). */
export function formToInput(form: ScriptForm, options: InputOptions = {}): { input: ScriptInput; errors: FieldErrors } {
  const { definitions, errors } = fromDrafts(form.parameters)
  if (!form.name.trim()) errors.name = 'A name is required'
  if (form.language === 'shell' && form.dependencies.length) {
    errors.dependencies = 'Shell scripts cannot declare dependencies; remove them'
  }
  const limits = Object.fromEntries(
    Object.entries(form.limits).map(([key, value]) => [key, nullIfEmpty(value)]),
  ) as unknown as ScriptLimits
  const input: ScriptInput = {
    name: form.name.trim(),
    language: form.language,
    description: form.description,
    code: form.code,
    dependencies: [...form.dependencies],
    parameters: definitions,
    tags: form.tags.map((t) => t.trim()).filter(Boolean),
    folder: form.folder.trim().replace(/^\/+|\/+$/g, ''),
    timeout_seconds: nullIfEmpty(form.timeout_seconds),
    max_concurrent: nullIfEmpty(form.max_concurrent),
    concurrency_policy: form.concurrency_policy,
    max_retries: nullIfEmpty(form.max_retries) ?? 0,
    retry_delay_seconds: nullIfEmpty(form.retry_delay_seconds) ?? 0,
    enabled: form.enabled,
    limits,
    sandbox_network: form.sandbox_network,
    notifications: copySubscriptions(form.notifications),
    on_success: [...form.on_success],
    on_failure: [...form.on_failure],
    variables: [...form.variables],
  }
  Object.assign(errors, subscriptionProblems(form.notifications))
  if (options.canSetRunAs) {
    const problem = runAsProblem(form.run_as_user)
    if (problem) errors.run_as_user = problem
    input.run_as_user = runAsToInput(form.run_as_user)
  }
  return { input, errors }
}

/** A stable string of what the user can change (draft keys left out), for "unsaved changes". */
export function snapshot(form: ScriptForm): string {
  return JSON.stringify({ ...form, parameters: form.parameters.map(({ key: _key, ...rest }) => rest) })
}

/** A server problem as `{field: message}`, or null when it names no field. */
export function problemToErrors(error: unknown): FieldErrors | null {
  if (!(error instanceof ProblemError) || !error.field) return null
  const field = normalizeField(error.field)
  return { [field]: cleanMessage(error.detail || error.title, error.field) }
}

export const SETTINGS_FIELDS =
  /^(timeout_seconds|max_concurrent|concurrency_policy|max_retries|retry_delay_seconds|limits|sandbox_network|run_as_user|notifications|on_success|on_failure|variables)/

/**
 * Why "Network in the sandbox" does nothing on this server, or '' when it does (or when the health
 * is unknown). Only the bwrap sandbox can take the network away; without it runs always have it.
 */
export function sandboxNetworkNote(health: Pick<Health, 'sandbox'> | null | undefined): string {
  const sandbox = health?.sandbox
  if (!sandbox || sandbox.mode === 'bwrap') return ''
  return 'No effect on this server: it runs scripts without a sandbox, so runs always have the network. ' +
    'The setting is kept, and applies if the server is switched to the bwrap sandbox.'
}
