/** The shared-variable form's checks, before sending and from the server's answer. */
import { ProblemError } from '@/api/http'
import type { Variable } from '@/api/variables'

export interface VariableForm {
  name: string
  description: string
  secret: boolean
  value: string
}

export const VARIABLE_NAME = /^[A-Z_][A-Z0-9_]*$/

/** What the server would refuse anyway, keyed by field, so the message sits at the field at once. */
export function variableFormProblems(form: VariableForm, editing: Variable | null): Record<string, string> {
  const errors: Record<string, string> = {}
  if (!editing) {
    const name = form.name.trim()
    if (!name) errors.name = 'A name is required.'
    else if (!VARIABLE_NAME.test(name)) errors.name = 'Upper-case letters, digits and _, not starting with a digit.'
  } else if (editing.secret && !form.secret && form.value === '') {
    errors.value = 'The secret value is never shown: give the new plain value.'
  }
  return errors
}

/** A server problem naming a form field as `{field: message}`, else null. */
export function variableProblem(error: unknown): Record<string, string> | null {
  if (!(error instanceof ProblemError) || !error.field) return null
  const field = error.field.replace(/^body\./, '').split('.')[0]
  if (!['name', 'value', 'secret', 'description'].includes(field)) return null
  let message = error.detail || error.title
  if (message.startsWith(`${field}: `)) message = message.slice(field.length + 2)
  message = message.replace(/^Value error, /, '')
  return { [field]: message.charAt(0).toUpperCase() + message.slice(1) }
}
