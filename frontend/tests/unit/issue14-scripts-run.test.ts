import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { duplicateScript, executeScript, rerunWithChanges, type ParameterDefinition, type Script } from '@/api/scripts'
import RunDialog from '@/components/RunDialog.vue'
import { buildRunParams, changedParams, coerceRunValue, initialRunValues, runPlaceholder } from '@/utils/params'

const push = vi.fn()
vi.mock('vue-router', () => ({ useRouter: () => ({ push }) }))
vi.mock('element-plus', async (original) => ({
  ...(await original<typeof import('element-plus')>()),
  ElMessage: { success: vi.fn(), error: vi.fn(), info: vi.fn() },
}))

const def = (p: Partial<ParameterDefinition> & { name: string }): ParameterDefinition => ({
  type: 'string', description: '', default: null, required: false, choices: null, ...p,
})

function script(parameters: ParameterDefinition[], version = 2): Script {
  return {
    id: 5, name: 'report', language: 'python', description: '', code: '', dependencies: [], parameters, tags: [],
    folder: '', timeout_seconds: null, max_concurrent: null, concurrency_policy: 'queue', max_retries: 0,
    retry_delay_seconds: 0, enabled: true, sandbox_network: true, run_as_user: null, version, revision: version,
    limits: { memory_mb: null, cpu_seconds: null, file_size_mb: null, open_files: null, processes: null },
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
    notifications: [], on_success: [], on_failure: [], variables: [],
  }
}

const reply = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
  })

interface Server {
  /** What GET /api/scripts/5 answers (the server's script, newer than the page's copy maybe). */
  current: Script
  /** Older versions' parameters by number. */
  older?: Record<number, ParameterDefinition[]>
  execution?: Record<string, unknown>
  post?: (url: string, init: RequestInit) => Response
}

function serve(server: Server) {
  const mock = vi.fn(async (url: string, init: RequestInit = {}) => {
    if ((init.method || 'GET') !== 'GET') return server.post ? server.post(url, init) : reply(202, { id: 90 })
    if (url === '/api/scripts/5') return reply(200, server.current)
    if (url === '/api/scripts/5/versions') {
      const numbers = [server.current.version, ...Object.keys(server.older || {}).map(Number)]
      const items = numbers.map((n) => ({ number: n, current: n === server.current.version, message: '', created_at: '2026-01-01T00:00:00Z', author: 'ann' }))
      return reply(200, { items, total: items.length })
    }
    const version = /^\/api\/scripts\/5\/versions\/(\d+)$/.exec(url)
    if (version && server.older?.[Number(version[1])]) {
      return reply(200, { number: Number(version[1]), script_id: 5, code: '', dependencies: [], message: '', created_at: '', parameters: server.older[Number(version[1])] })
    }
    if (url.startsWith('/api/executions/') && server.execution) return reply(200, server.execution)
    return reply(404, { title: 'Not found', status: 404, detail: `no ${url}` })
  })
  vi.stubGlobal('fetch', mock)
  return mock
}
const posts = (mock: ReturnType<typeof serve>) =>
  mock.mock.calls.filter(([, init]) => (init?.method || 'GET') !== 'GET') as unknown as [string, RequestInit][]
const body = (mock: ReturnType<typeof serve>, i = 0) => JSON.parse(posts(mock)[i][1].body as string)

const $ = (selector: string) => document.body.querySelector(selector) as HTMLElement | null
const field = (name: string) => $(`[data-test="run-param-${name}"]`)!.closest('.el-form-item') as HTMLElement
const settle = async () => {
  await flushPromises()
  await new Promise((resolve) => setTimeout(resolve, 150)) // el-form-item shows its error debounced
  await flushPromises()
}

function type(selector: string, value: string): void {
  const input = $(selector) as HTMLInputElement
  input.value = value
  input.dispatchEvent(new Event('input', { bubbles: true }))
  input.dispatchEvent(new Event('change', { bubbles: true }))
}

async function submit(): Promise<void> {
  $('[data-test="run-submit"]')!.click()
  await settle()
}

let wrapper: ReturnType<typeof mount> | null = null
async function open(props: Record<string, unknown>) {
  wrapper = mount(RunDialog, { props: { modelValue: true, ...props }, attachTo: document.body })
  await settle()
}

beforeEach(() => push.mockReset())
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

describe('run form values (issue 14)', () => {
  it('refuses a fraction in an integer field instead of rounding it', () => {
    const count = def({ name: 'count', type: 'integer' })
    expect(coerceRunValue(count, '3.5')).toEqual({ ok: false, error: 'Enter a whole number (not 3.5)' })
    expect(coerceRunValue(count, 3.5).ok).toBe(false)
    expect(coerceRunValue(count, ' -7 ')).toEqual({ ok: true, value: -7 })
    expect(coerceRunValue(count, '0x10').ok).toBe(false)
    expect(coerceRunValue(def({ name: 'r', type: 'number' }), '2.5e1')).toEqual({ ok: true, value: 25 })
  })

  it('lets a required parameter with a default stay empty: nothing is sent, the default applies', () => {
    const count = def({ name: 'count', type: 'integer', required: true, default: 3 })
    expect(runPlaceholder(count)).toBe('Default: 3')
    expect(initialRunValues([count])).toEqual({ count: '' })
    expect(buildRunParams([count], { count: '' })).toEqual({ params: {}, errors: {} })
    const who = def({ name: 'who', required: true, default: 'world' })
    expect(buildRunParams([who], { who: '' })).toEqual({ params: {}, errors: {} })
  })

  it('sends an optional boolean without default as false, and leaves null out', () => {
    const defs = [def({ name: 'dry', type: 'boolean' }), def({ name: 'n', type: 'number' }), def({ name: 'c', type: 'json' })]
    expect(initialRunValues(defs, { dry: null, n: null })).toEqual({ dry: false, n: '', c: '' })
    expect(buildRunParams(defs, { dry: false, n: null, c: null }).params).toEqual({ dry: false })
  })

  it('keeps only what a rerun changed; a masked secret is left alone until retyped', () => {
    const defs = [
      def({ name: 'count', type: 'integer' }),
      def({ name: 'token', type: 'secret', required: true }),
      def({ name: 'data', type: 'file', required: true }),
    ]
    const original = { count: 2, token: '***', data: 'in.csv' }
    const values = initialRunValues(defs, original)
    expect(values).toEqual({ count: '2', token: '', data: null })
    const same = buildRunParams(defs, values, {}, { rerun: true })
    expect(same.errors).toEqual({}) // the secret and the file are the original run's
    expect(changedParams(same.params, original)).toEqual({})
    const edited = buildRunParams(defs, { ...values, count: '4', token: 'new' }, {}, { rerun: true })
    expect(changedParams(edited.params, original)).toEqual({ count: 4, token: 'new' })
  })
})

describe('RunDialog (issue 14)', () => {
  it('shows "not a whole number" at the field as it is typed, and does not run', async () => {
    const params = [def({ name: 'count', type: 'integer', required: true })]
    const mock = serve({ current: script(params) })
    await open({ script: script(params) })
    type('[data-test="run-param-count"] input', '3.5')
    await settle()
    expect(field('count').textContent).toContain('Enter a whole number (not 3.5)')
    await submit()
    expect(posts(mock)).toEqual([])
    type('[data-test="run-param-count"] input', '4')
    await settle()
    expect(field('count').classList.contains('is-error')).toBe(false)
    await submit()
    expect(body(mock)).toEqual({ params: { count: 4 } })
  })

  it('runs a required parameter with a default from an empty field, and sends an unset boolean as false', async () => {
    const params = [def({ name: 'days', type: 'integer', required: true, default: 3 }), def({ name: 'dry', type: 'boolean' })]
    const mock = serve({ current: script(params) })
    await open({ script: script(params) })
    const input = $('[data-test="run-param-days"] input') as HTMLInputElement
    expect(input.value).toBe('')
    expect(input.placeholder).toBe('Default: 3')
    expect(field('days').classList.contains('is-required')).toBe(false)
    await submit()
    expect(body(mock)).toEqual({ params: { dry: false } })
    expect(push).toHaveBeenCalledWith('/executions/90')
  })

  it('re-reads the script on open: the choices are the server\'s, not the page\'s stale copy', async () => {
    const stale = script([def({ name: 'env', type: 'choice', choices: ['dev'] })], 1)
    serve({ current: script([def({ name: 'env', type: 'choice', choices: ['dev', 'prod'] })]) })
    await open({ script: stale })
    ;($('[data-test="run-param-env"] .el-select__wrapper') as HTMLElement).click()
    await settle()
    const options = [...document.body.querySelectorAll('.el-select-dropdown__item')].map((o) => o.textContent?.trim())
    expect(options).toEqual(['dev', 'prod'])
    expect($('[data-test="run-dialog"]')?.textContent).toContain('v2')
  })

  it('runs an older version picked in the version select, with that version\'s parameters', async () => {
    const mock = serve({
      current: script([def({ name: 'who' })]),
      older: { 1: [def({ name: 'name', default: 'ann' })] },
    })
    await open({ scriptId: 5 })
    expect($('[data-test="run-version"]')).not.toBeNull()
    ;($('[data-test="run-version"] .el-select__wrapper') as HTMLElement).click()
    await settle()
    const v1 = [...document.body.querySelectorAll('.el-select-dropdown__item')].find((o) => o.textContent?.trim() === 'v1')
    ;(v1 as HTMLElement).click()
    await settle()
    expect($('[data-test="run-param-name"]')).not.toBeNull()
    expect($('[data-test="run-param-who"]')).toBeNull()
    expect($('[data-test="old-version-note"]')?.textContent).toContain('Runs v1')
    await submit()
    expect(posts(mock)[0][0]).toBe('/api/scripts/5/execute')
    expect(body(mock)).toEqual({ params: { name: 'ann' }, version: 1 })
  })

  it('runs the version it is given (history: "Run this version")', async () => {
    const mock = serve({ current: script([]), older: { 1: [] } })
    await open({ scriptId: 5, version: 1 })
    await submit()
    expect(body(mock)).toEqual({ params: {}, version: 1 })
  })

  it('reruns with only the changed values, keeping masked secrets and original files', async () => {
    const params = [
      def({ name: 'count', type: 'integer' }),
      def({ name: 'token', type: 'secret' }),
      def({ name: 'data', type: 'file' }),
    ]
    const mock = serve({ current: script(params), post: () => reply(202, { id: 91 }) })
    await open({ scriptId: 5, rerunOf: 12, latest: true, initialValues: { count: 2, token: '***', data: 'in.csv' } })
    expect(($('[data-test="run-param-count"] input') as HTMLInputElement).value).toBe('2')
    expect(($('[data-test="run-param-token"] input') as HTMLInputElement).value).toBe('')
    expect($('[data-test="run-param-data"]')?.textContent).toContain('in.csv')
    expect($('[data-test="run-param-data"] input[type="file"]')).toBeNull()
    expect($('[data-test="run-extra-files"]')).toBeNull()
    type('[data-test="run-param-count"] input', '5')
    await settle()
    await submit()
    const [url] = posts(mock)[0]
    expect(url).toBe('/api/executions/12/rerun?latest=true')
    expect(body(mock)).toEqual({ params: { count: 5 } })
    expect(push).toHaveBeenCalledWith('/executions/91')
  })

  it('opens with the errors it is given at their fields (a quick rerun the server refused)', async () => {
    const params = [def({ name: 'count', type: 'integer' })]
    serve({ current: script(params) })
    await open({ scriptId: 5, rerunOf: 12, latest: true, initialValues: { count: 2 }, initialErrors: { count: 'Must be below 2' } })
    expect(field('count').textContent).toContain('Must be below 2')
  })

  it('sends a retyped secret, uses the original run\'s version, and shows a 422 at its field', async () => {
    const params = [def({ name: 'token', type: 'secret', required: true })]
    const mock = serve({
      current: script([def({ name: 'other' })], 3),
      older: { 2: params },
      execution: { id: 12, script_id: 5, version: 2, params: { token: '***' } },
      post: () => reply(422, { title: 'Invalid input', status: 422, detail: 'params.token: too short', field: 'params.token' }),
    })
    await open({ rerunOf: 12 })
    expect($('[data-test="run-param-token"]')).not.toBeNull() // v2's parameters, not the current v3's
    type('[data-test="run-param-token"] input', 'x')
    await settle()
    await submit()
    expect(posts(mock)[0][0]).toBe('/api/executions/12/rerun')
    expect(body(mock)).toEqual({ params: { token: 'x' } })
    expect(field('token').textContent).toContain('Too short')
    expect(wrapper!.emitted('update:modelValue')).toBeUndefined()
  })
})

describe('run API calls (issue 14)', () => {
  function stub(status = 202) {
    const mock = vi.fn(async () => reply(status, { id: 1 }))
    vi.stubGlobal('fetch', mock)
    return (i = 0) => mock.mock.calls[i] as unknown as [string, RequestInit]
  }

  it('sends the version to run in JSON and in multipart', async () => {
    const call = stub()
    await executeScript(3, { params: { n: 1 }, version: 2 })
    expect(JSON.parse(call()[1].body as string)).toEqual({ params: { n: 1 }, version: 2 })
    await executeScript(3, { params: {}, extraFiles: [new File(['x'], 'a.txt')], version: 2 })
    expect((call(1)[1].body as FormData).get('version')).toBe('2')
    await executeScript(3, { params: {} })
    expect(JSON.parse(call(2)[1].body as string)).toEqual({ params: {} })
  })

  it('reruns with changes (and latest), and duplicates', async () => {
    const call = stub()
    await rerunWithChanges(12, { params: { n: 2 }, latest: true })
    expect(call()[0]).toBe('/api/executions/12/rerun?latest=true')
    expect(JSON.parse(call()[1].body as string)).toEqual({ params: { n: 2 } })
    await rerunWithChanges(12, { params: {} })
    expect(call(1)[0]).toBe('/api/executions/12/rerun')
    await duplicateScript(3)
    expect(call(2)[0]).toBe('/api/scripts/3/duplicate')
    expect(call(2)[1].method).toBe('POST')
  })
})
