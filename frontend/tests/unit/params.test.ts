import { describe, expect, it } from 'vitest'
import type { ParameterDefinition } from '@/api/scripts'
import {
  buildRunParams,
  cleanMessage,
  coerceRunValue,
  defaultForType,
  fromDrafts,
  initialRunValues,
  nameProblem,
  newDraft,
  normalizeField,
  runParamOfField,
  toDraft,
} from '@/utils/params'

function def(partial: Partial<ParameterDefinition> & { name: string }): ParameterDefinition {
  return { type: 'string', description: '', default: null, required: false, choices: null, ...partial }
}

describe('parameter names', () => {
  it('accepts env-var-safe identifiers and refuses the rest', () => {
    expect(nameProblem('REPORT_DATE')).toBeNull()
    expect(nameProblem('_x1')).toBeNull()
    expect(nameProblem('')).toMatch(/required/)
    expect(nameProblem('1x')).toMatch(/Letters/)
    expect(nameProblem('a-b')).toMatch(/Letters/)
    expect(nameProblem('x'.repeat(65))).toMatch(/max 64/)
  })

  it('refuses the names the runner sets itself, case-insensitively', () => {
    expect(nameProblem('PATH')).toMatch(/reserved/)
    expect(nameProblem('workspace')).toMatch(/reserved/)
    expect(nameProblem('SCRIPTMAN_TOKEN')).toMatch(/reserved/)
    expect(nameProblem('ld_preload')).toMatch(/reserved/)
  })
})

describe('server field names', () => {
  it('normalises brackets and a body prefix to one dotted spelling', () => {
    expect(normalizeField('parameters[0].name')).toBe('parameters.0.name')
    expect(normalizeField('parameters.0.name')).toBe('parameters.0.name')
    expect(normalizeField('dependencies[3]')).toBe('dependencies.3')
    expect(normalizeField('body.limits.memory_mb')).toBe('limits.memory_mb')
    expect(normalizeField(null)).toBe('')
  })

  it('finds the parameter a run-time error names', () => {
    expect(runParamOfField('params.count')).toBe('count')
    expect(runParamOfField('params')).toBeNull()
    expect(runParamOfField('name')).toBeNull()
  })

  it('strips the field prefix and pydantic noise from messages', () => {
    expect(cleanMessage('params.x: expected an integer', 'params.x')).toBe('Expected an integer')
    expect(cleanMessage("parameters[0].name: duplicate parameter 'a'", 'parameters[0].name')).toBe("Duplicate parameter 'a'")
    expect(cleanMessage("parameters.0: Value error, a 'choice' parameter needs choices", 'parameters.0')).toBe(
      "A 'choice' parameter needs choices",
    )
  })
})

describe('designer drafts', () => {
  it('round-trips definitions, json defaults edited as text', () => {
    const defs = [
      def({ name: 'n', type: 'integer', default: 5, required: true }),
      def({ name: 'cfg', type: 'json', default: { a: [1, 2] } }),
      def({ name: 'mode', type: 'choice', choices: ['fast', 2, true], default: 2 }),
      def({ name: 'flag', type: 'boolean' }),
    ]
    const drafts = defs.map(toDraft)
    expect(drafts[1].default).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}')
    const { definitions, errors } = fromDrafts(drafts)
    expect(errors).toEqual({})
    expect(definitions).toEqual(defs)
  })

  it('reports bad names, duplicates, missing choices and bad defaults under server-style keys', () => {
    const a = { ...newDraft(), name: 'a' }
    const dup = { ...newDraft(), name: 'a' }
    const bad = { ...newDraft(), name: '9' }
    const choice = { ...newDraft(), name: 'c', type: 'choice' as const }
    const json = { ...newDraft(), name: 'j', type: 'json' as const, default: '{oops' }
    const int = { ...newDraft(), name: 'i', type: 'integer' as const, default: 1.5 }
    const { errors } = fromDrafts([a, dup, bad, choice, json, int])
    expect(Object.keys(errors).sort()).toEqual([
      'parameters.1.name',
      'parameters.2.name',
      'parameters.3.choices',
      'parameters.4.default',
      'parameters.5.default',
    ])
    expect(errors['parameters.4.default']).toMatch(/JSON/)
  })

  it('saves empty defaults as null and never gives a file a default', () => {
    const drafts = [
      { ...newDraft(), name: 's', default: '' },
      { ...newDraft(), name: 'f', type: 'file' as const, default: 'x' },
      { ...newDraft(), name: 'j', type: 'json' as const, default: '  ' },
    ]
    expect(fromDrafts(drafts).definitions.map((d) => d.default)).toEqual([null, null, null])
  })

  it('keeps the masked secret default so the server keeps the saved one', () => {
    const draft = toDraft(def({ name: 'token', type: 'secret', default: '***' }))
    expect(fromDrafts([draft]).definitions[0].default).toBe('***')
  })

  it('keeps what still fits when a row changes type', () => {
    expect(defaultForType('integer', 2.7)).toBe(2)
    expect(defaultForType('number', 'x')).toBeNull()
    expect(defaultForType('string', '***')).toBeNull()
    expect(defaultForType('json', 'abc')).toBe('abc')
    expect(defaultForType('choice', 'a')).toBeNull()
  })
})

describe('run form', () => {
  const defs = [
    def({ name: 'who', default: 'world' }),
    def({ name: 'count', type: 'integer', required: true }),
    def({ name: 'ratio', type: 'number', default: 0.5 }),
    def({ name: 'dry', type: 'boolean', default: true }),
    def({ name: 'mode', type: 'choice', choices: ['a', 'b'] }),
    def({ name: 'cfg', type: 'json', default: { k: 1 } }),
    def({ name: 'token', type: 'secret', default: '***', required: true }),
    def({ name: 'input', type: 'file', required: true }),
  ]

  it('prefills defaults, keeping a saved secret hidden', () => {
    expect(initialRunValues(defs)).toEqual({
      who: 'world',
      count: '',
      ratio: '', // shown as the placeholder "Default: 0.5"; an empty field runs with it
      dry: true,
      mode: '',
      cfg: '{\n  "k": 1\n}',
      token: '',
      input: null,
    })
  })

  it('builds params and leaves empty optional fields to the server defaults', () => {
    const values = { ...initialRunValues(defs), count: '3' }
    const file = new File(['x'], 'in.csv')
    const { params, errors } = buildRunParams(defs, values, { input: file })
    expect(errors).toEqual({})
    expect(params).toEqual({ who: 'world', count: 3, dry: true, cfg: { k: 1 } })
  })

  it('names each missing or malformed value', () => {
    const values = { ...initialRunValues(defs), who: '', cfg: '{nope', mode: 'c' }
    const { params, errors } = buildRunParams(defs, values, {})
    expect(errors.count).toMatch(/required/)
    expect(errors.input).toMatch(/file/)
    expect(errors.cfg).toMatch(/JSON/)
    expect(errors.mode).toMatch(/a, b/)
    expect(errors.token).toBeUndefined() // the saved secret is used
    expect(params.who).toBe('') // cleared on purpose: sent as empty
  })

  it('coerces like the server does', () => {
    const int = def({ name: 'i', type: 'integer' })
    expect(coerceRunValue(int, '42')).toEqual({ ok: true, value: 42 })
    expect(coerceRunValue(int, 4.2).ok).toBe(false)
    expect(coerceRunValue(def({ name: 'n', type: 'number' }), ' 1.5 ')).toEqual({ ok: true, value: 1.5 })
    expect(coerceRunValue(def({ name: 'b', type: 'boolean' }), 'TRUE')).toEqual({ ok: true, value: true })
    const choice = def({ name: 'c', type: 'choice', choices: [1, 2, true] })
    expect(coerceRunValue(choice, '2')).toEqual({ ok: true, value: 2 })
    expect(coerceRunValue(choice, 'true')).toEqual({ ok: true, value: true })
    expect(coerceRunValue(def({ name: 'j', type: 'json' }), '[1]')).toEqual({ ok: true, value: [1] })
  })
})
