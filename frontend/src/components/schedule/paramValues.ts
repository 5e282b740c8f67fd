import type { ParamValues } from '@/api/schedules'
import type { ParameterDefinitionInput as ParameterDefinition } from '@/api/scripts'
import { SECRET_MASK } from '@/utils/params'

/**
 * A schedule stores only the values that override the script's defaults. In the form, an empty
 * field means "use the script's default". Secrets come back from the API as `***`: an untouched
 * secret field sends `***` again, which the server reads as "unchanged".
 */

export type FormValue = string | number | boolean | null

export interface ParamForm {
  values: Record<string, FormValue>
  /** Secrets that have a stored value (shown as ***). */
  storedSecrets: string[]
}

export function toParamForm(definitions: ParameterDefinition[], params: ParamValues): ParamForm {
  const values: Record<string, FormValue> = {}
  const storedSecrets: string[] = []
  for (const def of definitions) {
    const raw = params[def.name]
    if (def.type === 'file') continue
    if (def.type === 'secret') {
      if (raw !== undefined && raw !== null) storedSecrets.push(def.name)
      values[def.name] = ''
    } else if (raw === undefined || raw === null) {
      values[def.name] = def.type === 'boolean' || def.type === 'choice' ? null : ''
    } else if (def.type === 'boolean' || def.type === 'choice') {
      values[def.name] = raw as FormValue
    } else if (def.type === 'json') {
      values[def.name] = JSON.stringify(raw)
    } else {
      values[def.name] = String(raw)
    }
  }
  return { values, storedSecrets }
}

const isBlank = (value: unknown) => value === undefined || value === null || (typeof value === 'string' && !value.trim())

/** The params to send, or the per-parameter errors (keyed `params.<name>` like the server's). */
export function fromParamForm(
  definitions: ParameterDefinition[],
  form: ParamForm,
): { params: ParamValues; errors: Record<string, string> } {
  const params: ParamValues = {}
  const errors: Record<string, string> = {}
  for (const def of definitions) {
    if (def.type === 'file') continue
    const raw = form.values[def.name]
    if (def.type === 'secret') {
      if (typeof raw === 'string' && raw !== '') params[def.name] = raw
      else if (form.storedSecrets.includes(def.name)) params[def.name] = SECRET_MASK
      continue
    }
    if (isBlank(raw)) continue
    const text = typeof raw === 'string' ? raw.trim() : raw
    switch (def.type) {
      case 'integer': {
        if (typeof text === 'number' && Number.isInteger(text)) params[def.name] = text
        else if (/^[-+]?\d+$/.test(String(text))) {
          const number = Number(text)
          params[def.name] = Number.isSafeInteger(number) ? number : String(text)
        } else errors[`params.${def.name}`] = 'Enter a whole number.'
        break
      }
      case 'number': {
        const number = typeof text === 'number' ? text : Number(text)
        if (Number.isFinite(number) && String(text) !== '') params[def.name] = number
        else errors[`params.${def.name}`] = 'Enter a number.'
        break
      }
      case 'json':
        try {
          params[def.name] = JSON.parse(String(raw))
        } catch {
          errors[`params.${def.name}`] = 'Not valid JSON (strings need "quotes").'
        }
        break
      case 'boolean':
      case 'choice':
        params[def.name] = raw
        break
      default:
        params[def.name] = raw
    }
  }
  return { params, errors }
}

/** Names in the stored params that the script no longer defines (they would be refused). */
export function staleParams(definitions: ParameterDefinition[], params: ParamValues): string[] {
  const known = new Set(definitions.map((d) => d.name))
  return Object.keys(params).filter((name) => !known.has(name))
}

/** How the script's default reads in a placeholder. */
export function defaultText(def: ParameterDefinition): string {
  if (def.type === 'secret') return def.default ? 'the script default (hidden)' : 'none'
  if (def.default === undefined || def.default === null) {
    // the same rule as a run: an optional boolean nobody set is false (a checkbox has no "unset")
    if (def.type === 'boolean' && !def.required) return 'false'
    return def.required ? 'none — required' : 'none'
  }
  return typeof def.default === 'string' ? def.default : JSON.stringify(def.default)
}

/**
 * The placeholder of an empty field, which is what a fire runs with: "Default: 3" (a required
 * parameter with a default is satisfied by it, as in the run form), "Required" when there is
 * nothing to fall back on.
 */
export function paramPlaceholder(def: ParameterDefinition): string {
  const hasDefault = def.default !== undefined && def.default !== null
  if (def.required && !hasDefault && def.type !== 'secret') return 'Required'
  return `Default: ${defaultText(def)}`
}
