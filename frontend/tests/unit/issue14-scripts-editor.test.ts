import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter, RouterView, type Router } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import { h } from 'vue'
import type { Script } from '@/api/scripts'
import { emptyForm, sandboxNetworkNote } from '@/components/script/scriptForm'
import { findTemplate, SCRIPT_TEMPLATES, TEMPLATE_KINDS } from '@/components/script/templates'
import { useAuthStore } from '@/stores/auth'
import ScriptEditorView from '@/views/ScriptEditorView.vue'
import ScriptHistoryView from '@/views/ScriptHistoryView.vue'

vi.mock('element-plus', async (original) => ({
  ...(await original<typeof import('element-plus')>()),
  ElMessage: { success: vi.fn(), error: vi.fn(), info: vi.fn() },
}))

function script(partial: Partial<Script> = {}): Script {
  return {
    id: 5, name: 'nightly-report', language: 'python', description: '', code: 'print("mine")\n', dependencies: [],
    parameters: [], tags: [], folder: '', timeout_seconds: null, max_concurrent: null, concurrency_policy: 'queue',
    max_retries: 0, retry_delay_seconds: 0, enabled: true, sandbox_network: true, run_as_user: null, version: 3,
    revision: 3, limits: { memory_mb: null, cpu_seconds: null, file_size_mb: null, open_files: null, processes: null },
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', last_run: null,
    notifications: [], on_success: [], on_failure: [], variables: [],
    ...partial,
  }
}

const reply = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
  })

type Route = (url: string, init: RequestInit) => Response | undefined
let route: Route = () => undefined
let calls: [string, RequestInit][] = []

const HEALTH = {
  status: 'ok', version: '0.1.0', executor: 'local',
  sandbox: { mode: 'none', available: false, detail: 'runs are not sandboxed' },
  containment: { cgroup: 'none', cgroup_detail: '', run_as_user: 'x', server_is_root: false, warnings: [] },
}

beforeEach(() => {
  calls = []
  setActivePinia(createPinia())
  useAuthStore().user = { id: 1, username: 'ann', role: 'editor' } as ReturnType<typeof useAuthStore>['user']
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit = {}) => {
    calls.push([url, init])
    if (url === '/api/health') return reply(200, HEALTH)
    return route(url, init) ?? reply(404, { title: 'Not found', status: 404, detail: `no ${url}` })
  }))
})
let wrapper: VueWrapper | null = null
let router: Router
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

const Stub = { render: () => h('div', { 'data-test': 'stub' }) }
async function mountAt(path: string) {
  router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/scripts', component: Stub },
      { path: '/scripts/new', component: ScriptEditorView },
      { path: '/scripts/:id(\\d+)', component: ScriptEditorView, props: true },
      { path: '/scripts/:id(\\d+)/history', component: ScriptHistoryView, props: true },
      { path: '/executions/:id', component: Stub },
    ],
  })
  await router.push(path)
  await router.isReady()
  wrapper = mount({ render: () => h(RouterView) }, { global: { plugins: [router] }, attachTo: document.body })
  await settle()
}
const settle = async () => {
  for (let i = 0; i < 5; i++) {
    await flushPromises()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
/** Waits for a lazy-loaded part (the code editor, the diff) to show, failing after a while. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 25))
  expect(condition()).toBe(true)
}
const $ = (selector: string) => document.body.querySelector(selector) as HTMLElement | null
const methods = (method: string) => calls.filter(([, init]) => (init.method || 'GET') === method)

describe('templates (issue 14)', () => {
  it('offers real jobs beside hello world, each in Python, with bash/JS where natural', () => {
    expect(TEMPLATE_KINDS.map((k) => k.kind)).toEqual(['hello', 'http-check', 'csv-report', 'cleanup'])
    for (const kind of TEMPLATE_KINDS) expect(kind.languages).toContain('python')
    expect(TEMPLATE_KINDS.find((k) => k.kind === 'cleanup')!.languages).toEqual(['python', 'javascript', 'shell'])
    const http = findTemplate('http-check', 'python')
    expect(http.code).toContain('urllib.request')
    expect(http.code).toContain('sys.exit(0 if up else 1)')
    expect(http.parameters.map((p) => [p.name, p.type])).toContainEqual(['URL', 'string'])
    const cleanup = findTemplate('cleanup', 'shell')
    expect(cleanup.parameters.map((p) => [p.name, p.type, p.default])).toEqual([
      ['FOLDER', 'string', null], ['DAYS', 'integer', 30], ['DRY_RUN', 'boolean', true],
    ])
    expect(findTemplate('csv-report', 'python').code).toContain('WORKSPACE')
    expect(findTemplate('csv-report', 'shell').language).toBe('python') // no shell variant: the first one
    for (const t of SCRIPT_TEMPLATES) for (const p of t.parameters) expect(p.name).toMatch(/^[A-Z_]+$/)
  })

  it('says the network switch does nothing without a sandbox', () => {
    expect(sandboxNetworkNote({ sandbox: { mode: 'none', available: false, detail: '' } })).toMatch(/No effect on this server/)
    expect(sandboxNetworkNote({ sandbox: { mode: 'bwrap', available: true, detail: 'ok' } })).toBe('')
    expect(sandboxNetworkNote(null)).toBe('')
  })
})

describe('ScriptEditorView (issue 14)', { timeout: 30_000 }, () => {
  it('starts a new script from a template: language, code, parameters and a name', async () => {
    await mountAt('/scripts/new')
    expect(document.title).toBe('New script · Scripts · Scriptman')
    $('[data-test="template-cleanup"]')!.click()
    await settle()
    expect(($('[data-test="script-name"] input') as HTMLInputElement).value).toBe('cleanup-old-files')
    const names = [...document.body.querySelectorAll('[data-test="param-name"] input')].map((i) => (i as HTMLInputElement).value)
    expect(names).toEqual(['FOLDER', 'DAYS', 'DRY_RUN'])
    await until(() => !!$('[data-test="code-editor"]')?.textContent?.includes('rglob'))
    // creating sends the template's parameters
    route = (url, init) => (url === '/api/scripts' && init.method === 'POST' ? reply(201, script({ id: 9 })) : undefined)
    $('[data-test="save-script"]')!.click()
    await settle()
    const body = JSON.parse(methods('POST')[0][1].body as string)
    expect(body.language).toBe('python')
    expect(body.parameters.map((p: { name: string }) => p.name)).toEqual(['FOLDER', 'DAYS', 'DRY_RUN'])
    expect(body.code).toBe(findTemplate('cleanup', 'python').code)
    expect(emptyForm().code).toBe(findTemplate('hello', 'python').code)
  })

  it('names the script in the tab title, and explains the network switch without a sandbox', async () => {
    route = (url) => (url === '/api/scripts/5' ? reply(200, script()) : undefined)
    await mountAt('/scripts/5')
    expect(document.title).toBe('nightly-report · Scripts · Scriptman')
    expect($('[data-test="network-note"]')?.textContent).toContain('No effect on this server')
  })

  it('on a 409 shows theirs against mine, and overwrites with mine when asked', async () => {
    let serverScript = script()
    route = (url, init) => {
      if (url === '/api/scripts/5' && (init.method || 'GET') === 'GET') return reply(200, serverScript)
      if (url === '/api/scripts/5' && init.method === 'PUT') {
        const sent = JSON.parse(init.body as string)
        if (sent.version === 3) return reply(409, { title: 'Conflict', status: 409, detail: 'The script changed since version 3.', field: 'version' })
        return reply(200, script({ ...sent, version: 5, revision: 5 }))
      }
      return undefined
    }
    await mountAt('/scripts/5')
    serverScript = script({ version: 4, revision: 4, code: 'print("theirs")\n', dependencies: ['requests'] })
    const description = $('[data-test="script-description"] textarea') as HTMLTextAreaElement
    description.value = 'my change'
    description.dispatchEvent(new Event('input', { bubbles: true }))
    await settle()
    $('[data-test="save-script"]')!.click()
    await settle()
    const dialog = $('[data-test="conflict-dialog"]')!
    await until(() => !!dialog.querySelector('.cm-editor'))
    expect(dialog.textContent).toContain('The script changed since version 3.')
    expect(dialog.textContent).toContain('Theirs (v4 on the server)')
    expect(dialog.textContent).toContain('Mine (unsaved)')
    expect(dialog.querySelector('.cm-mergeView, .cm-editor')).not.toBeNull() // the DiffView
    expect(dialog.textContent).toContain('requests') // their dependency, which mine lacks
    expect($('[data-test="conflict-reload"]')).not.toBeNull()
    $('[data-test="conflict-overwrite"]')!.click()
    await settle()
    const puts = methods('PUT')
    expect(puts).toHaveLength(2)
    const forced = JSON.parse(puts[1][1].body as string)
    expect(forced.version).toBeUndefined()
    expect(forced.description).toBe('my change')
    expect($('[data-test="conflict-dialog"]')?.offsetParent ?? null).toBeNull()
    expect($('[data-test="script-version"]')?.textContent).toBe('v5')
  })

  it('reloads theirs from the conflict dialog', async () => {
    let serverScript = script()
    route = (url, init) => {
      if (url === '/api/scripts/5' && (init.method || 'GET') === 'GET') return reply(200, serverScript)
      if (init.method === 'PUT') return reply(409, { title: 'Conflict', status: 409, detail: 'Changed.', field: 'If-Match' })
      return undefined
    }
    await mountAt('/scripts/5')
    serverScript = script({ version: 4, revision: 4, description: 'theirs' })
    const description = $('[data-test="script-description"] textarea') as HTMLTextAreaElement
    description.value = 'mine'
    description.dispatchEvent(new Event('input', { bubbles: true }))
    await settle()
    $('[data-test="save-script"]')!.click()
    await settle()
    expect($('[data-test="conflict-same-code"]')).not.toBeNull() // only the details differ
    expect($('[data-test="conflict-other-fields"]')?.textContent).toContain('yours differ in description')
    $('[data-test="conflict-reload"]')!.click()
    await settle()
    expect(($('[data-test="script-description"] textarea') as HTMLTextAreaElement).value).toBe('theirs')
    expect($('[data-test="script-version"]')?.textContent).toBe('v4')
    expect($('[data-test="unsaved"]')).toBeNull()
  })

  it('duplicates the script and opens the copy', async () => {
    route = (url, init) => {
      if (url === '/api/scripts/5') return reply(200, script())
      if (url === '/api/scripts/5/duplicate' && init.method === 'POST') return reply(201, script({ id: 6, name: 'nightly-report (copy)', version: 1 }))
      if (url === '/api/scripts/6') return reply(200, script({ id: 6, name: 'nightly-report (copy)', version: 1 }))
      return undefined
    }
    await mountAt('/scripts/5')
    $('[data-test="duplicate-script"]')!.click()
    await settle()
    expect(methods('POST').map(([url]) => url)).toEqual(['/api/scripts/5/duplicate'])
    expect(router.currentRoute.value.fullPath).toBe('/scripts/6')
    expect(document.title).toBe('nightly-report (copy) · Scripts · Scriptman')
  })
})

describe('ScriptHistoryView (issue 14)', { timeout: 30_000 }, () => {
  const version = (number: number, author: string | null) => ({
    number, script_id: 5, code: `print(${number})\n`, dependencies: [], parameters: number === 1 ? [{ name: 'OLD', type: 'string', description: '', default: 'x', required: false, choices: null }] : [],
    message: `v${number} note`, created_at: '2026-01-01T00:00:00Z', author,
  })
  beforeEach(() => {
    route = (url, init) => {
      if (url === '/api/scripts/5') return reply(200, script({ version: 2 }))
      if (url === '/api/scripts/5/versions') {
        return reply(200, { items: [{ ...version(2, 'bob'), current: true }, { ...version(1, null), current: false }], total: 2 })
      }
      const n = /\/versions\/(\d+)$/.exec(url)
      if (n) return reply(200, version(Number(n[1]), n[1] === '2' ? 'bob' : null))
      if (url === '/api/scripts/5/execute' && init.method === 'POST') return reply(202, { id: 44 })
      return undefined
    }
  })

  it('shows who saved each version and names the script in the tab title', async () => {
    await mountAt('/scripts/5/history')
    expect($('[data-test="author-2"]')?.textContent?.trim()).toBe('by bob')
    expect($('[data-test="author-1"]')?.textContent?.trim()).toBe('author not recorded')
    expect(document.title).toBe('History · nightly-report · Scripts · Scriptman')
  })

  it('runs an older version from the list', async () => {
    await mountAt('/scripts/5/history')
    $('[data-test="run-version-1"]')!.click()
    await settle()
    expect($('[data-test="run-param-OLD"]')).not.toBeNull() // v1's parameters
    $('[data-test="run-submit"]')!.click()
    await settle()
    const [url, init] = methods('POST')[0]
    expect(url).toBe('/api/scripts/5/execute')
    expect(JSON.parse(init.body as string)).toEqual({ params: { OLD: 'x' }, version: 1 })
    expect(router.currentRoute.value.fullPath).toBe('/executions/44')
  })
})
