import { describe, expect, it } from 'vitest'
import { ProblemError } from '@/api/http'
import type { ParameterDefinition, Script } from '@/api/scripts'
import { dependencyProblem, splitSpecs } from '@/components/script/dependencies'
import { folderOptions, groupByFolder } from '@/components/script/grouping'
import { emptyForm, formFromScript, formToInput, problemToErrors, snapshot, TEMPLATES } from '@/components/script/scriptForm'
import { compareLists, compareParameters } from '@/components/script/versionCompare'

function script(partial: Partial<Script>): Script {
  return {
    id: 1, name: 's', language: 'python', description: '', code: '', dependencies: [], parameters: [], tags: [],
    folder: '', timeout_seconds: null, max_concurrent: null, concurrency_policy: 'queue', max_retries: 0,
    retry_delay_seconds: 0, enabled: true, sandbox_network: true, run_as_user: null, version: 1, revision: 1,
    limits: { memory_mb: null, cpu_seconds: null, file_size_mb: null, open_files: null, processes: null },
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', last_run: null,
    notifications: [], on_success: [], on_failure: [], variables: [],
    ...partial,
  }
}
const def = (p: Partial<ParameterDefinition> & { name: string }): ParameterDefinition => ({
  type: 'string', description: '', default: null, required: false, choices: null, ...p,
})

describe('scripts list grouping', () => {
  it('groups by folder, top level first, names sorted', () => {
    const groups = groupByFolder([
      script({ id: 1, name: 'b', folder: 'reports' }),
      script({ id: 2, name: 'z' }),
      script({ id: 3, name: 'a', folder: 'reports' }),
      script({ id: 4, name: 'c', folder: 'etl/daily' }),
    ])
    expect(groups.map((g) => g.folder)).toEqual(['', 'etl/daily', 'reports'])
    expect(groups[2].scripts.map((s) => s.name)).toEqual(['a', 'b'])
  })

  it('offers parent folders too (the server filters by prefix)', () => {
    expect(folderOptions(['etl/daily', 'etl/weekly', 'reports']).map((o) => o.value)).toEqual([
      'etl', 'etl/daily', 'etl/weekly', 'reports',
    ])
  })
})

describe('dependencies', () => {
  it('checks the syntax of each language', () => {
    expect(dependencyProblem('python', 'requests>=2.31,<3')).toBeNull()
    expect(dependencyProblem('python', '--index-url http://x')).toMatch(/not allowed/)
    expect(dependencyProblem('javascript', 'lodash@^4.17.21')).toBeNull()
    expect(dependencyProblem('javascript', '@octokit/rest@20')).toBeNull()
    expect(dependencyProblem('javascript', 'Not Valid')).toMatch(/npm/)
    expect(dependencyProblem('shell', 'jq')).toMatch(/cannot/)
  })

  it('splits pasted requirements by line, keeping commas and dropping comments', () => {
    expect(splitSpecs('requests>=2,<3\n# dev\n\npandas  # data\r\n')).toEqual(['requests>=2,<3', 'pandas'])
  })
})

describe('editor form', () => {
  it('round-trips a script with no changes (nothing unsaved after load)', () => {
    const s = script({ name: 'x', tags: ['a'], parameters: [def({ name: 'n', type: 'integer', default: 3 })] })
    const form = formFromScript(s)
    expect(snapshot(formFromScript(s))).toBe(snapshot(form))
    const { input, errors } = formToInput(form)
    expect(errors).toEqual({})
    expect(input.parameters).toEqual(s.parameters)
    expect(input.limits).toEqual(s.limits)
  })

  it('sees a change in any field, draft keys aside', () => {
    const form = formFromScript(script({ parameters: [def({ name: 'n' })] }))
    const before = snapshot(form)
    form.parameters[0].key += 100
    expect(snapshot(form)).toBe(before)
    form.parameters[0].required = true
    expect(snapshot(form)).not.toBe(before)
  })

  it('refuses an empty name and shell dependencies before sending', () => {
    const { errors } = formToInput({ ...emptyForm('shell'), name: ' ', dependencies: ['jq'] })
    expect(errors.name).toBeTruthy()
    expect(errors.dependencies).toMatch(/Shell/)
  })

  it('cleans folder slashes and empty tags, and starts from a template per language', () => {
    const { input } = formToInput({ ...emptyForm(), name: 'a', folder: '/reports/daily/', tags: [' x ', ''] })
    expect(input.folder).toBe('reports/daily')
    expect(input.tags).toEqual(['x'])
    expect(emptyForm('shell').code).toBe(TEMPLATES.shell)
  })

  it('maps a server problem to the field it names', () => {
    const error = new ProblemError({ title: 'Invalid input', status: 422, detail: 'parameters[1].name: duplicate parameter', field: 'parameters[1].name' })
    expect(problemToErrors(error)).toEqual({ 'parameters.1.name': 'Duplicate parameter' })
    expect(problemToErrors(new ProblemError({ title: 'x', status: 500 }))).toBeNull()
  })
})

describe('version comparison', () => {
  it('lists added and removed dependencies', () => {
    expect(compareLists(['a', 'b'], ['b', 'c'])).toEqual({ added: ['c'], removed: ['a'] })
  })

  it('lists added, removed and changed parameters with before/after', () => {
    const changes = compareParameters(
      [def({ name: 'a' }), def({ name: 'b', type: 'integer', default: 1 })],
      [def({ name: 'b', type: 'integer', default: 2, required: true }), def({ name: 'c' })],
    )
    expect(changes).toEqual([
      { name: 'b', kind: 'changed', fields: { required: ['false', 'true'], default: ['1', '2'] } },
      { name: 'c', kind: 'added', fields: {} },
      { name: 'a', kind: 'removed', fields: {} },
    ])
  })

  it('notices a reorder', () => {
    const changes = compareParameters([def({ name: 'a' }), def({ name: 'b' })], [def({ name: 'b' }), def({ name: 'a' })])
    expect(changes).toHaveLength(1)
    expect(changes[0].fields.order).toEqual(['a, b', 'b, a'])
  })
})
