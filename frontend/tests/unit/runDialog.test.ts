import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import type { ParameterDefinition, Script } from '@/api/scripts'
import RunDialog from '@/components/RunDialog.vue'

const push = vi.fn()
vi.mock('vue-router', () => ({ useRouter: () => ({ push }) }))
vi.mock('element-plus', async (original) => ({
  ...(await original<typeof import('element-plus')>()),
  ElMessage: { success: vi.fn(), error: vi.fn(), info: vi.fn() },
}))

const def = (p: Partial<ParameterDefinition> & { name: string }): ParameterDefinition => ({
  type: 'string', description: '', default: null, required: false, choices: null, ...p,
})

function script(parameters: ParameterDefinition[]): Script {
  return {
    id: 5, name: 'report', language: 'python', description: '', code: '', dependencies: [], parameters, tags: [],
    folder: '', timeout_seconds: null, max_concurrent: null, concurrency_policy: 'queue', max_retries: 0,
    retry_delay_seconds: 0, enabled: true, sandbox_network: true, run_as_user: null, version: 2, revision: 2,
    limits: { memory_mb: null, cpu_seconds: null, file_size_mb: null, open_files: null, processes: null },
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
    notifications: [], on_success: [], on_failure: [], variables: [],
  }
}

function reply(status: number, body: unknown) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
  })
}

type Handler = (init: RequestInit, url: string) => Response | Promise<Response>

/**
 * A fetch that answers the dialog's reads (the script, its versions) from `parameters`, and hands
 * every other call to `post` (a run or rerun).
 */
function serve(parameters: ParameterDefinition[], post: Handler, versions = [{ number: 2, current: true }]) {
  const mock = vi.fn(async (url: string, init: RequestInit = {}) => {
    if ((init.method || 'GET') === 'GET') {
      if (url === '/api/scripts/5') return reply(200, script(parameters))
      if (url === '/api/scripts/5/versions') {
        const items = versions.map((v) => ({ ...v, message: '', created_at: '2026-01-01T00:00:00Z', author: 'ann' }))
        return reply(200, { items, total: items.length })
      }
      return reply(404, { title: 'Not found', status: 404, detail: `no ${url}` })
    }
    return post(init, url)
  })
  vi.stubGlobal('fetch', mock)
  return mock
}
/** The calls that were not the dialog's reads. */
const posts = (mock: ReturnType<typeof serve>) =>
  mock.mock.calls.filter(([, init]) => (init?.method || 'GET') !== 'GET') as unknown as [string, RequestInit][]

const $ = (selector: string) => document.body.querySelector(selector) as HTMLElement | null

function type(selector: string, value: string): void {
  const input = $(selector) as HTMLInputElement
  input.value = value
  input.dispatchEvent(new Event('input', { bubbles: true }))
  input.dispatchEvent(new Event('change', { bubbles: true }))
}

async function submit(): Promise<void> {
  $('[data-test="run-submit"]')!.click()
  await flushPromises()
  await new Promise((resolve) => setTimeout(resolve, 150)) // el-form-item shows its error debounced
  await flushPromises()
}

const PARAMS = [
  def({ name: 'who', default: 'world', description: 'Whom to greet' }),
  def({ name: 'count', type: 'integer', required: true }),
  def({ name: 'verbose', type: 'boolean' }),
  def({ name: 'data', type: 'file' }),
]

let wrapper: ReturnType<typeof mount> | null = null
function open(parameters = PARAMS) {
  wrapper = mount(RunDialog, { props: { modelValue: true, script: script(parameters) }, attachTo: document.body })
  return flushPromises()
}

beforeEach(() => push.mockReset())
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

describe('RunDialog', () => {
  it('renders a type-aware field per parameter with defaults, required marks and help', async () => {
    serve(PARAMS, () => reply(500, {}))
    await open()
    expect(($('[data-test="run-param-who"] input') as HTMLInputElement).value).toBe('world')
    expect($('[data-test="run-param-count"] input')).not.toBeNull()
    expect($('[data-test="run-param-verbose"]')?.classList.contains('el-switch')).toBe(true)
    expect($('[data-test="run-param-data"] input[type="file"]')).not.toBeNull()
    expect(document.body.textContent).toContain('Whom to greet')
    expect(document.body.querySelectorAll('.is-required').length).toBe(1)
  })

  it('checks required values before calling the server', async () => {
    const fetchMock = serve(PARAMS, () => reply(500, {}))
    await open()
    await submit()
    expect(posts(fetchMock)).toEqual([])
    expect(document.body.textContent).toContain('This parameter is required')
  })

  it('submits JSON params and opens the new execution', async () => {
    const fetchMock = serve(PARAMS, () => reply(202, { id: 77, status: 'queued' }))
    await open()
    type('[data-test="run-param-count"] input', '3')
    await flushPromises()
    await submit()
    const [url, init] = posts(fetchMock)[0]
    expect(url).toBe('/api/scripts/5/execute')
    expect(JSON.parse(init.body as string)).toEqual({ params: { who: 'world', count: 3, verbose: false } })
    expect(push).toHaveBeenCalledWith('/executions/77')
    expect(wrapper!.emitted('update:modelValue')?.at(-1)).toEqual([false])
  })

  it('shows a 422 naming a parameter under that field', async () => {
    serve(PARAMS, () =>
      reply(422, { title: 'Invalid input', status: 422, detail: 'params.count: must be below 10', field: 'params.count' }),
    )
    await open()
    type('[data-test="run-param-count"] input', '30')
    await flushPromises()
    await submit()
    const item = $('[data-test="run-param-count"]')!.closest('.el-form-item')!
    expect(item.classList.contains('is-error')).toBe(true)
    expect(item.textContent).toContain('Must be below 10')
    expect(push).not.toHaveBeenCalled()
    expect(wrapper!.emitted('update:modelValue')).toBeUndefined() // the dialog stays open
  })

  it('shows other errors above the buttons', async () => {
    serve([def({ name: 'who' })], () =>
      reply(409, { title: 'Conflict', status: 409, detail: "Script 'report' is disabled", field: 'enabled' }),
    )
    await open([def({ name: 'who' })])
    await submit()
    expect($('[data-test="run-error"]')?.textContent).toContain('disabled')
  })

  it('sends multipart with the file under the parameter name', async () => {
    const fetchMock = serve([def({ name: 'data', type: 'file', required: true })], () => reply(202, { id: 78, status: 'queued' }))
    await open([def({ name: 'data', type: 'file', required: true })])
    const input = $('[data-test="run-param-data"] input[type="file"]') as HTMLInputElement
    const file = new File(['a,b\n'], 'data.csv', { type: 'text/csv' })
    Object.defineProperty(input, 'files', { value: [file], configurable: true })
    input.dispatchEvent(new Event('change', { bubbles: true }))
    await flushPromises()
    await submit()
    const init = posts(fetchMock)[0][1]
    const form = init.body as FormData
    expect(form.get('params')).toBe('{}')
    expect((form.get('data') as File).name).toBe('data.csv')
    expect(push).toHaveBeenCalledWith('/executions/78')
  })
})
