/**
 * Client-side helpers for parameter definitions: the designer's drafts, the run form's values,
 * and the server's `field` names. The server validates again; these only give earlier, clearer errors.
 */
import type { ChoiceValue, ParamType, ParameterDefinition } from '@/api/scripts'

export const PARAM_TYPES: ParamType[] = ['string', 'integer', 'number', 'boolean', 'choice', 'json', 'secret', 'file']
export const SECRET_MASK = '***'
const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
const RESERVED_NAMES = new Set([
  'SCRIPT_PARAMETERS', 'SCRIPT_NAME', 'EXECUTION_ID', 'WORKSPACE', 'SCRIPTMAN_RESULT', 'PATH', 'HOME', 'PWD',
  'SHELL', 'IFS', 'ENV', 'BASH_ENV', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP', 'PYTHONUNBUFFERED',
  'NODE_OPTIONS', 'NODE_PATH', 'VIRTUAL_ENV',
])
const RESERVED_PREFIXES = ['SCRIPTMAN_', 'LD_', 'DYLD_', 'BASH_FUNC_']

export type FieldErrors = Record<string, string>
type Coerced = { ok: true; value: unknown } | { ok: false; error: string }

/** Why a parameter name is not allowed, or null. */
export function nameProblem(name: string): string | null {
  if (!name) return 'A name is required'
  if (!NAME_PATTERN.test(name)) return 'Letters, digits and _ only, not starting with a digit (max 64)'
  const upper = name.toUpperCase()
  if (RESERVED_NAMES.has(upper) || RESERVED_PREFIXES.some((p) => upper.startsWith(p))) {
    return `'${name}' is reserved; pick another name`
  }
  return null
}

/** The server names fields `parameters.0.name`, `parameters[0].name` or `body.x`; one spelling here. */
export function normalizeField(field: string | null | undefined): string {
  if (!field) return ''
  return field.replace(/^body\./, '').replace(/\[(\d+)\]/g, '.$1')
}

/** `params.NAME` (a run-time error) → `NAME`, else null. */
export function runParamOfField(field: string | null | undefined): string | null {
  const match = /^params\.([A-Za-z_][A-Za-z0-9_]*)/.exec(normalizeField(field))
  return match ? match[1] : null
}

export function choiceText(choice: ChoiceValue): string {
  return typeof choice === 'string' ? choice : JSON.stringify(choice)
}

// ---------------------------------------------------------------- designer drafts

/** One row of the parameter designer. `default` is typed per type; for json it is the text. */
export interface ParamDraft {
  key: number
  name: string
  type: ParamType
  description: string
  required: boolean
  choices: ChoiceValue[]
  default: unknown
}

let nextKey = 1

export function newDraft(): ParamDraft {
  return { key: nextKey++, name: '', type: 'string', description: '', required: false, choices: [], default: null }
}

export function toDraft(definition: ParameterDefinition): ParamDraft {
  let value: unknown = definition.default ?? null
  if (definition.type === 'json') value = value === null ? '' : JSON.stringify(value, null, 2)
  return {
    key: nextKey++,
    name: definition.name,
    type: definition.type,
    description: definition.description || '',
    required: !!definition.required,
    choices: [...(definition.choices || [])],
    default: value,
  }
}

/** A default fitting the new type when the type of a row changes (keeps what still fits). */
export function defaultForType(type: ParamType, previous: unknown): unknown {
  switch (type) {
    case 'string':
    case 'secret':
      return typeof previous === 'string' && previous !== SECRET_MASK ? previous : null
    case 'integer':
    case 'number':
      return typeof previous === 'number' ? (type === 'integer' ? Math.trunc(previous) : previous) : null
    case 'boolean':
      return typeof previous === 'boolean' ? previous : null
    case 'json':
      return typeof previous === 'string' ? previous : ''
    default:
      return null // choice, file
  }
}

function draftDefault(draft: ParamDraft): Coerced {
  const value = draft.default
  switch (draft.type) {
    case 'file':
      return { ok: true, value: null }
    case 'string':
    case 'secret':
      return { ok: true, value: typeof value === 'string' && value !== '' ? value : null }
    case 'integer':
      if (value === null || value === undefined || value === '') return { ok: true, value: null }
      return typeof value === 'number' && Number.isInteger(value)
        ? { ok: true, value }
        : { ok: false, error: 'The default must be a whole number' }
    case 'number':
      if (value === null || value === undefined || value === '') return { ok: true, value: null }
      return typeof value === 'number' && Number.isFinite(value)
        ? { ok: true, value }
        : { ok: false, error: 'The default must be a number' }
    case 'boolean':
      return { ok: true, value: typeof value === 'boolean' ? value : null }
    case 'choice':
      if (value === null || value === undefined || value === '') return { ok: true, value: null }
      return draft.choices.some((c) => c === value)
        ? { ok: true, value }
        : { ok: false, error: 'The default must be one of the choices' }
    case 'json':
      return parseJsonText(typeof value === 'string' ? value : JSON.stringify(value))
  }
}

function parseJsonText(text: string): Coerced {
  if (!text.trim()) return { ok: true, value: null }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (error) {
    return { ok: false, error: `Not valid JSON: ${(error as Error).message}` }
  }
}

/** Drafts → definitions to save, with errors keyed like the server's (`parameters.0.name`). */
export function fromDrafts(drafts: ParamDraft[]): { definitions: ParameterDefinition[]; errors: FieldErrors } {
  const errors: FieldErrors = {}
  const seen = new Set<string>()
  const definitions = drafts.map((draft, index) => {
    const name = draft.name.trim()
    const problem = nameProblem(name)
    if (problem) errors[`parameters.${index}.name`] = problem
    else if (seen.has(name)) errors[`parameters.${index}.name`] = `Duplicate parameter '${name}'`
    seen.add(name)
    if (draft.type === 'choice' && !draft.choices.length) {
      errors[`parameters.${index}.choices`] = 'Add at least one choice'
    }
    const value = draftDefault(draft)
    if (!value.ok) errors[`parameters.${index}.default`] = value.error
    return {
      name,
      type: draft.type,
      description: draft.description,
      default: value.ok ? value.value : null,
      required: draft.required,
      choices: draft.type === 'choice' ? [...draft.choices] : null,
    }
  })
  return { definitions, errors }
}

// ---------------------------------------------------------------- run form

/** A value in a run form or a run's record that stands for "not given" (`null` counts as absent). */
const absent = (value: unknown) => value === null || value === undefined

/** The text a number field shows for a value ('' for none). */
function numberText(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : ''
}

/**
 * The run form's starting values. Without `initial`: string, choice, boolean and json fields show
 * the default; number fields start empty with the default as placeholder (an empty field runs with
 * the default); a secret's saved default stays hidden. With `initial` (a rerun's values, secrets
 * masked as `***`), those values come first; a secret still starts empty, meaning "keep it".
 */
export function initialRunValues(
  definitions: ParameterDefinition[],
  initial: Record<string, unknown> = {},
): Record<string, unknown> {
  const values: Record<string, unknown> = {}
  for (const d of definitions) {
    const given = initial[d.name]
    const value = absent(given) ? (d.default ?? null) : given
    if (d.type === 'json') values[d.name] = value === null ? '' : JSON.stringify(value, null, 2)
    else if (d.type === 'secret') values[d.name] = ''
    else if (d.type === 'boolean') values[d.name] = typeof value === 'boolean' ? value : false
    else if (d.type === 'integer' || d.type === 'number') values[d.name] = absent(given) ? '' : numberText(given)
    else if (d.type === 'file') values[d.name] = null
    else values[d.name] = value === null ? '' : value
  }
  return values
}

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'string' && value.trim() === '')
}

const INTEGER_TEXT = /^[-+]?\d{1,30}$/
const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i

/** One form value → the value to send, mirroring the server's coercion (never rounding). */
export function coerceRunValue(definition: ParameterDefinition, raw: unknown): Coerced {
  switch (definition.type) {
    case 'string':
    case 'secret':
    case 'file':
      return { ok: true, value: raw === null || raw === undefined ? '' : String(raw) }
    case 'integer': {
      const text = typeof raw === 'string' ? raw.trim() : raw
      if (typeof text === 'number' && Number.isSafeInteger(text)) return { ok: true, value: text }
      if (typeof text === 'string' && INTEGER_TEXT.test(text) && Number.isSafeInteger(Number(text))) {
        return { ok: true, value: Number(text) }
      }
      const shown = typeof text === 'string' || typeof text === 'number' ? ` (not ${text})` : ''
      return { ok: false, error: `Enter a whole number${shown}` }
    }
    case 'number': {
      const text = typeof raw === 'string' ? raw.trim() : raw
      if (typeof text === 'number' && Number.isFinite(text)) return { ok: true, value: text }
      if (typeof text === 'string' && NUMBER_TEXT.test(text) && Number.isFinite(Number(text))) {
        return { ok: true, value: Number(text) }
      }
      return { ok: false, error: 'Enter a number, e.g. 2 or 0.5' }
    }
    case 'boolean':
      if (typeof raw === 'boolean') return { ok: true, value: raw }
      if (typeof raw === 'string' && ['true', 'false'].includes(raw.trim().toLowerCase())) {
        return { ok: true, value: raw.trim().toLowerCase() === 'true' }
      }
      return { ok: false, error: 'Expected true or false' }
    case 'choice': {
      const choices = definition.choices || []
      const found = choices.find((c) => c === raw) ?? choices.find((c) => choiceText(c) === String(raw))
      return found !== undefined
        ? { ok: true, value: found }
        : { ok: false, error: `Pick one of: ${choices.map(choiceText).join(', ')}` }
    }
    case 'json':
      return typeof raw === 'string' ? parseJsonText(raw) : { ok: true, value: raw }
  }
}

/** What is wrong with a filled-in field as typed (null when it is fine, or empty): shown while typing. */
export function fieldProblem(definition: ParameterDefinition, raw: unknown): string | null {
  if (definition.type === 'file' || definition.type === 'boolean' || isEmpty(raw)) return null
  const result = coerceRunValue(definition, raw)
  return result.ok ? null : result.error
}

/** The placeholder of an empty field: what an empty field runs with. */
export function runPlaceholder(definition: ParameterDefinition, options: { rerun?: boolean } = {}): string {
  const hasDefault = !absent(definition.default)
  if (definition.type === 'secret') {
    if (options.rerun) return 'Empty keeps the value of the original run'
    return hasDefault ? 'Empty uses the saved secret' : ''
  }
  if (options.rerun) return 'Empty keeps the value of the original run'
  // An optional string cleared on purpose runs with '' (see buildRunParams), not with the default.
  if (definition.type === 'string' && !definition.required) return ''
  if (hasDefault && definition.type !== 'json') return `Default: ${choiceText(definition.default as ChoiceValue)}`
  return ''
}

export interface BuildOptions {
  /**
   * A rerun: an empty field keeps the original run's value (the server has it), so it is never
   * "required", and file parameters are the original uploads (kept by the server).
   */
  rerun?: boolean
}

/**
 * The `params` object for an execute call, and per-parameter errors. An empty field is left out
 * (so the server applies the default; a required parameter with a default is satisfied by it),
 * except a string with a default cleared on purpose, sent as ''. A boolean is always sent: the
 * switch has no "unset", and an optional boolean without a default is false on the server too.
 */
export function buildRunParams(
  definitions: ParameterDefinition[],
  values: Record<string, unknown>,
  files: Record<string, File | null | undefined> = {},
  options: BuildOptions = {},
): { params: Record<string, unknown>; errors: FieldErrors } {
  const params: Record<string, unknown> = {}
  const errors: FieldErrors = {}
  for (const d of definitions) {
    const hasDefault = !absent(d.default)
    if (d.type === 'file') {
      if (!options.rerun && !files[d.name] && d.required) errors[d.name] = 'Choose a file'
      continue
    }
    const raw = values[d.name]
    const empty = d.type === 'string' ? raw === '' || raw === null || raw === undefined : isEmpty(raw)
    if (empty) {
      if (options.rerun) continue
      if (d.required && !hasDefault) errors[d.name] = 'This parameter is required'
      else if (d.type === 'string' && hasDefault && !d.required && raw === '') params[d.name] = '' // cleared on purpose
      continue
    }
    const result = coerceRunValue(d, raw)
    if (result.ok) params[d.name] = result.value
    else errors[d.name] = result.error
  }
  return { params, errors }
}

/**
 * The values of a rerun that differ from the original run's: only these are sent, so what the
 * user left alone (masked secrets included) runs as it did.
 */
export function changedParams(params: Record<string, unknown>, original: Record<string, unknown>): Record<string, unknown> {
  const changed: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(params)) {
    const before = original[name]
    if (absent(before) || JSON.stringify(before) !== JSON.stringify(value)) changed[name] = value
  }
  return changed
}

/** A server message without the `field: ` prefix and pydantic's "Value error, " noise. */
export function cleanMessage(message: string, field?: string | null): string {
  let text = message
  if (field) {
    for (const spelling of [field, normalizeField(field)]) {
      if (text.startsWith(`${spelling}: `)) text = text.slice(spelling.length + 2)
    }
  }
  text = text.replace(/^Value error, /, '')
  return text.charAt(0).toUpperCase() + text.slice(1)
}
