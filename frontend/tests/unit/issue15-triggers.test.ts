import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter, RouterView } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import { h } from 'vue'
import type { Script } from '@/api/scripts'
import type { Hook, HookCreated } from '@/api/hooks'
import TriggersPanel from '@/components/script/TriggersPanel.vue'
import {
  baseOfHookUrl,
  curlExamples,
  exampleParams,
  exampleValue,
  fileParameters,
  hookUrl,
  shellQuote,
} from '@/components/script/curlExamples'
import { useAuthStore } from '@/stores/auth'
import ScriptEditorView from '@/views/ScriptEditorView.vue'

const confirm = vi.hoisted(() => ({ answer: true, messages: [] as string[] }))
vi.mock('element-plus', async (original) => ({
  ...(await original<typeof import('element-plus')>()),
  ElMessage: { success: vi.fn(), error: vi.fn(), warning: vi.fn(), info: vi.fn() },
  ElMessageBox: {
    confirm: vi.fn(async (message: string) => {
      confirm.messages.push(message)
      if (!confirm.answer) throw 'cancel'
      return 'confirm'
    }),
  },
}))

const PARAMS: Pick<Script['parameters'][number], 'name' | 'type' | 'default' | 'choices'>[] = [
  { name: 'WHO', type: 'string', default: null, choices: null },
  { name: 'COUNT', type: 'integer', default: 3, choices: null },
  { name: 'RATIO', type: 'number', default: null, choices: null },
  { name: 'DRY', type: 'boolean', default: null, choices: null },
  { name: 'MODE', type: 'choice', default: null, choices: ['fast', 'slow'] },
  { name: 'OPTS', type: 'json', default: null, choices: null },
  { name: 'KEY', type: 'secret', default: 'kept-secret', choices: null },
  { name: 'UPLOAD', type: 'file', default: null, choices: null },
]

describe('curl examples', () => {
  it('gives each parameter a value of its type, its default when it has one (never a secret default)', () => {
    expect(PARAMS.map((p) => exampleValue(p))).toEqual(['text', 3, 1.5, true, 'fast', { key: 'value' }, 's3cret', undefined])
    expect(exampleParams(PARAMS)).toEqual({ WHO: 'text', COUNT: 3, RATIO: 1.5, DRY: true, MODE: 'fast', OPTS: { key: 'value' }, KEY: 's3cret' })
    expect(fileParameters(PARAMS)).toEqual(['UPLOAD'])
  })

  it('quotes for a POSIX shell', () => {
    expect(shellQuote(`{"a":"it's"}`)).toBe(`'{"a":"it'\\''s"}'`)
  })

  it('builds a start and a wait example on the real URL, with the JSON body', () => {
    const url = hookUrl('https://sm.example.com/', 'tok123')
    expect(url).toBe('https://sm.example.com/hooks/tok123')
    const [start, wait] = curlExamples(url, [PARAMS[0], PARAMS[1]])
    expect(start.command).toBe(
      `curl -X POST 'https://sm.example.com/hooks/tok123' \\\n  -H 'Content-Type: application/json' \\\n  -d '{"WHO":"text","COUNT":3}'`,
    )
    expect(wait.command).toContain(`'https://sm.example.com/hooks/tok123?wait=30'`)
    expect(wait.description).toContain('200')
    // no parameters: no body at all
    expect(curlExamples(url, [])[0].command).toBe(`curl -X POST 'https://sm.example.com/hooks/tok123'`)
  })

  it('reads the public base from the URL the API returned', () => {
    expect(baseOfHookUrl('https://public.example.com/sm/hooks/abc')).toBe('https://public.example.com/sm')
    expect(baseOfHookUrl('nonsense')).toBeNull()
    expect(hookUrl('http://localhost:5000')).toBe('http://localhost:5000/hooks/<token>')
  })
})

const json = (body: unknown, status = 200) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
let calls: { url: string; method: string; body?: string }[] = []
let routes: Record<string, () => Response> = {}
beforeEach(() => {
  calls = []
  routes = {}
  confirm.answer = true
  confirm.messages = []
  setActivePinia(createPinia())
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      calls.push({ url, method: init.method || 'GET', body: init.body as string | undefined })
      const route = routes[`${init.method || 'GET'} ${url}`]
      return route ? route() : json({ title: 'Not Found', status: 404 }, 404)
    }),
  )
})
let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

const hook = (over: Partial<Hook> = {}): Hook => ({
  id: 7,
  script_id: 5,
  name: 'GitHub push',
  prefix: 'smh_ab12',
  created_at: '2026-01-01T10:00:00Z',
  created_by: 'ann',
  rotated_at: null,
  last_used_at: null,
  last_used_ip: null,
  ...over,
})
const created = (over: Partial<HookCreated> = {}): HookCreated => ({
  ...hook(),
  token: 'smh_ab12SECRETSECRET',
  url: 'https://public.example.com/hooks/smh_ab12SECRETSECRET',
  ...over,
})

async function mountPanel(canManage = true, parameters: Script['parameters'] = []) {
  wrapper = mount(TriggersPanel, { props: { scriptId: 5, parameters, canManage }, attachTo: document.body })
  await flushPromises()
}
const $ = (selector: string) => document.body.querySelector(selector) as HTMLElement | null

describe('the Triggers panel', () => {
  it('tells a viewer who manages trigger URLs, without asking the API', async () => {
    const error = vi.spyOn(console, 'error')
    await mountPanel(false)
    expect($('[data-test=triggers-readonly]')!.textContent).toContain('managed by editors and admins')
    expect($('[data-test=create-trigger]')).toBeNull()
    expect(calls).toEqual([])
    expect(error).not.toHaveBeenCalled()
  })

  it('shows the read-only note when the API refuses (403), quietly', async () => {
    const error = vi.spyOn(console, 'error')
    routes['GET /api/scripts/5/hooks'] = () => json({ title: 'Forbidden', status: 403, detail: 'Editors only.' }, 403)
    await mountPanel(true)
    expect($('[data-test=triggers-readonly]')).not.toBeNull()
    expect($('[data-test=create-trigger]')).toBeNull()
    expect(error).not.toHaveBeenCalled()
  })

  it('lists the URLs: name, prefix, who created it, when and from where it was last used', async () => {
    routes['GET /api/scripts/5/hooks'] = () =>
      json({ items: [hook(), hook({ id: 8, name: 'cron box', prefix: 'smh_cd34', last_used_at: new Date(Date.now() - 120_000).toISOString(), last_used_ip: '10.0.0.9' })], total: 2 })
    await mountPanel(true)
    const rows = document.body.querySelectorAll('[data-test=trigger-list] .el-table__body tr')
    expect(rows).toHaveLength(2)
    expect(rows[0].textContent).toContain('GitHub push')
    expect(rows[0].textContent).toContain('/hooks/smh_ab12…')
    expect(rows[0].textContent).toContain('by ann')
    expect(rows[0].querySelector('[data-test=trigger-never-used]')).not.toBeNull()
    expect(rows[1].querySelector('[data-test=trigger-last-used]')!.textContent).toMatch(/2 min ago\s+from\s+10\.0\.0\.9/)
    // nowhere a whole token
    expect(document.body.textContent).not.toContain('SECRET')
  })

  it('shows a new URL and its token once, with examples on the URL the API gave', async () => {
    let listed: Hook[] = []
    routes['GET /api/scripts/5/hooks'] = () => json({ items: listed, total: listed.length })
    routes['POST /api/scripts/5/hooks'] = () => {
      listed = [hook()]
      return json(created(), 201)
    }
    await mountPanel(true, [{ name: 'WHO', type: 'string', default: 'world', choices: null, required: false, description: '' }])
    // before any token: the examples use this page's origin and a placeholder
    expect($('[data-test=curl-start]')!.textContent).toContain(`${window.location.origin}/hooks/<token>`)
    await wrapper!.find('[data-test=trigger-name] input').setValue('GitHub push')
    await wrapper!.find('form').trigger('submit')
    await flushPromises()
    expect(calls.find((c) => c.method === 'POST')!.body).toBe(JSON.stringify({ name: 'GitHub push' }))
    expect($('[data-test=created-token]')!.textContent).toBe('smh_ab12SECRETSECRET')
    expect($('[data-test=created-url]')!.textContent).toBe('https://public.example.com/hooks/smh_ab12SECRETSECRET')
    expect(document.body.textContent).toContain('it will not be shown again')
    const wait = $('[data-test=created-curl-wait]')!.textContent!
    expect(wait).toContain(`'https://public.example.com/hooks/smh_ab12SECRETSECRET?wait=30'`)
    expect(wait).toContain(`-d '{"WHO":"world"}'`)
    // the tab's own examples now point at the public base the API uses
    expect($('[data-test=curl-start]')!.textContent).toContain('https://public.example.com/hooks/<token>')
    expect(document.body.querySelectorAll('[data-test=trigger-list] .el-table__body tr')).toHaveLength(1)

    ;($('[data-test=trigger-done]') as HTMLButtonElement).click()
    await flushPromises()
    expect($('[data-test=created-token]')).toBeNull()
    expect(document.body.innerHTML).not.toContain('SECRETSECRET')
  })

  it('says why a name is refused', async () => {
    routes['GET /api/scripts/5/hooks'] = () => json({ items: [], total: 0 })
    routes['POST /api/scripts/5/hooks'] = () => json({ title: 'Unprocessable', status: 422, detail: 'name: too long', field: 'name' }, 422)
    await mountPanel(true)
    await wrapper!.find('form').trigger('submit')
    await flushPromises()
    expect($('[data-test=trigger-name-error]')!.textContent).toContain('too long')
    expect($('[data-test=created-token]')).toBeNull()
  })

  it('rotates after a confirmation and shows the new token once', async () => {
    routes['GET /api/scripts/5/hooks'] = () => json({ items: [hook()], total: 1 })
    routes['POST /api/scripts/5/hooks/7/rotate'] = () => json(created({ token: 'smh_ef56NEW', url: 'http://x/hooks/smh_ef56NEW' }))
    await mountPanel(true)
    confirm.answer = false
    await wrapper!.find('[data-test=rotate-trigger]').trigger('click')
    await flushPromises()
    expect(calls.some((c) => c.method === 'POST')).toBe(false)
    confirm.answer = true
    await wrapper!.find('[data-test=rotate-trigger]').trigger('click')
    await flushPromises()
    expect(confirm.messages[1]).toContain('stops working at once')
    expect($('[data-test=created-token]')!.textContent).toBe('smh_ef56NEW')
    expect(document.body.textContent).toContain('New trigger URL')
  })

  it('revokes after a confirmation', async () => {
    let listed = [hook()]
    routes['GET /api/scripts/5/hooks'] = () => json({ items: listed, total: listed.length })
    routes['DELETE /api/scripts/5/hooks/7'] = () => {
      listed = []
      return json(null, 204)
    }
    await mountPanel(true)
    await wrapper!.find('[data-test=revoke-trigger]').trigger('click')
    await flushPromises()
    expect(confirm.messages[0]).toContain('Revoke “GitHub push”')
    expect(calls.filter((c) => c.method === 'DELETE').map((c) => c.url)).toEqual(['/api/scripts/5/hooks/7'])
    expect(document.body.querySelectorAll('[data-test=trigger-list] .el-table__body tr')).toHaveLength(0)
  })

  it('notes that file parameters cannot be sent', async () => {
    routes['GET /api/scripts/5/hooks'] = () => json({ items: [], total: 0 })
    await mountPanel(true, [{ name: 'UPLOAD', type: 'file', default: null, choices: null, required: false, description: '' }])
    expect($('[data-test=file-params-note]')!.textContent).toContain('UPLOAD')
    expect($('[data-test=curl-start]')!.textContent).not.toContain('UPLOAD')
  })
})

describe('the script page', () => {
  const SCRIPT = {
    id: 5, name: 'nightly-report', language: 'python', description: '', code: 'print(1)\n', dependencies: [],
    parameters: [], tags: [], folder: '', timeout_seconds: null, max_concurrent: null, concurrency_policy: 'queue',
    max_retries: 0, retry_delay_seconds: 0, enabled: true, sandbox_network: true, run_as_user: null, version: 3,
    revision: 3, limits: { memory_mb: null, cpu_seconds: null, file_size_mb: null, open_files: null, processes: null },
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', last_run: null,
    notifications: [], on_success: [], on_failure: [], variables: [],
  }

  it('has a Triggers tab beside the editor, opened by ?tab=triggers', async () => {
    useAuthStore().user = { id: 1, username: 'ann', role: 'editor' } as ReturnType<typeof useAuthStore>['user']
    routes['GET /api/scripts/5'] = () => json(SCRIPT)
    routes['GET /api/scripts/5/hooks'] = () => json({ items: [hook()], total: 1 })
    routes['GET /api/health'] = () => json({ status: 'ok', sandbox: { mode: 'none', available: false, detail: '' } })
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [{ path: '/scripts/:id(\\d+)', component: ScriptEditorView, props: true }],
    })
    await router.push('/scripts/5?tab=triggers')
    await router.isReady()
    wrapper = mount({ render: () => h(RouterView) }, { global: { plugins: [router] }, attachTo: document.body })
    for (let i = 0; i < 5; i++) await flushPromises()
    const tabs = [...document.body.querySelectorAll('[data-test=script-tabs] .el-tabs__item')].map((t) => t.textContent!.trim())
    expect(tabs).toEqual(['Script', 'Triggers'])
    expect($('[data-test=triggers-panel]')).not.toBeNull()
    expect(($('.layout') as HTMLElement).style.display).toBe('none')
    ;($('[data-test=script-tabs] #tab-script') as HTMLElement).click()
    await flushPromises()
    expect($('[data-test=triggers-panel]')).toBeNull()
    expect(($('.layout') as HTMLElement).style.display).toBe('')
  })
})
