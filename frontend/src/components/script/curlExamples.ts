/**
 * The `curl` lines the Triggers tab offers: a trigger URL takes the run's parameter values as a
 * JSON body, so the examples are built from the script's own parameter definitions (a value of the
 * right type for each), ready to paste into a shell.
 */
import type { ParameterDefinition, ParamType } from '@/api/scripts'

/** Stands for the token where the real one is not known (it is shown once, at create or rotate). */
export const TOKEN_PLACEHOLDER = '<token>'
/** Seconds the "wait for the result" example asks for (the server caps it). */
export const EXAMPLE_WAIT_SECONDS = 30

type Definition = Pick<ParameterDefinition, 'name' | 'type'> & Partial<Pick<ParameterDefinition, 'default' | 'choices'>>

const SAMPLES: Record<Exclude<ParamType, 'file'>, unknown> = {
  string: 'text',
  integer: 42,
  number: 1.5,
  boolean: true,
  choice: null, // the first choice
  json: { key: 'value' },
  secret: 's3cret',
}

/** A value of the parameter's type: its default when it has one, else a plain sample. */
export function exampleValue(definition: Definition): unknown {
  const type = (definition.type ?? 'string') as ParamType
  if (type === 'file') return undefined
  if (type === 'choice') return definition.choices?.length ? definition.choices[0] : (definition.default ?? 'choice')
  if (definition.default !== null && definition.default !== undefined && type !== 'secret') return definition.default
  return SAMPLES[type]
}

/** The JSON body of the example: one entry per parameter a JSON body can carry (not files). */
export function exampleParams(parameters: readonly Definition[]): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const definition of parameters) {
    const value = exampleValue(definition)
    if (value !== undefined) body[definition.name] = value
  }
  return body
}

/** The names of file parameters: a trigger URL cannot upload a file, so the examples leave them out. */
export function fileParameters(parameters: readonly Definition[]): string[] {
  return parameters.filter((p) => p.type === 'file').map((p) => p.name)
}

/** A POSIX shell single-quoted word. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

/** `https://host/hooks/<token>`: the API's own URL when known, else `base` + the placeholder. */
export function hookUrl(base: string, token: string = TOKEN_PLACEHOLDER): string {
  return `${base.replace(/\/+$/, '')}/hooks/${token}`
}

/** The public base a trigger URL the API returned starts with (it honours SCRIPTMAN_PUBLIC_URL). */
export function baseOfHookUrl(url: string): string | null {
  const at = url.lastIndexOf('/hooks/')
  return at > 0 ? url.slice(0, at) : null
}

export interface CurlExample {
  key: 'start' | 'wait'
  title: string
  description: string
  command: string
}

/** Start a run (202 with its id), and start one and wait for its result (200 when it ends in time). */
export function curlExamples(url: string, parameters: readonly Definition[], wait = EXAMPLE_WAIT_SECONDS): CurlExample[] {
  const params = exampleParams(parameters)
  const data = Object.keys(params).length ? ` \\\n  -H 'Content-Type: application/json' \\\n  -d ${shellQuote(JSON.stringify(params))}` : ''
  return [
    {
      key: 'start',
      title: 'Start a run',
      description: 'Answers 202 at once with the run’s id and its page.',
      command: `curl -X POST ${shellQuote(url)}${data}`,
    },
    {
      key: 'wait',
      title: 'Start a run and wait for the result',
      description: `Answers 200 with status, exit code and result when the run ends within ${wait} s, else 202.`,
      command: `curl -X POST ${shellQuote(`${url}?wait=${wait}`)}${data}`,
    },
  ]
}
