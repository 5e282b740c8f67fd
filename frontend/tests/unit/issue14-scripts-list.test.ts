import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter, type Router } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import { defineComponent } from 'vue'
import type { Script } from '@/api/scripts'
import { folderPaths, folderTree } from '@/components/script/grouping'
import { useAuthStore } from '@/stores/auth'
import ScriptsView from '@/views/ScriptsView.vue'

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

const SCRIPTS = [
  script({ id: 1, name: 'hello', folder: 'demo', tags: ['intro'] }),
  script({ id: 2, name: 'params', folder: 'demo/params' }),
  script({ id: 3, name: 'deep', folder: 'demo/params/more' }),
  script({ id: 4, name: 'loose' }),
  script({ id: 5, name: 'nightly', folder: 'reports' }),
]

/** Waits until `condition` holds (a navigation settling), failing after a while. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5))
  expect(condition()).toBe(true)
}

describe('folder tree', () => {
  it('nests subfolders inside their parent, with counts that include them', () => {
    const root = folderTree(SCRIPTS)
    expect(root.scripts.map((s) => s.name)).toEqual(['loose'])
    expect(root.children.map((c) => c.path)).toEqual(['demo', 'reports'])
    const demo = root.children[0]
    expect(demo.count).toBe(3)
    expect(demo.scripts.map((s) => s.name)).toEqual(['hello'])
    expect(demo.children.map((c) => [c.path, c.name, c.count])).toEqual([['demo/params', 'params', 2]])
    expect(demo.children[0].children[0].path).toBe('demo/params/more')
    expect(root.count).toBe(5)
    expect(folderPaths(root)).toEqual(['demo', 'demo/params', 'demo/params/more', 'reports'])
  })

  it('makes the parent of a folder that only has subfolders', () => {
    const root = folderTree([script({ name: 'x', folder: 'a/b' })])
    expect(root.children[0]).toMatchObject({ path: 'a', scripts: [], count: 1 })
    expect(root.children[0].children[0]).toMatchObject({ path: 'a/b', name: 'b' })
  })
})

describe('ScriptsView (issue 14)', () => {
  let router: Router
  let calls: string[] = []
  let wrapper: VueWrapper | null = null
  const Stub = defineComponent({ template: '<div />' })

  beforeEach(() => {
    calls = []
    setActivePinia(createPinia())
    useAuthStore().user = { id: 1, username: 'ann', role: 'editor' } as ReturnType<typeof useAuthStore>['user']
    vi.stubGlobal('fetch', vi.fn(async (url: string) => {
      calls.push(url)
      const items = url.includes('folder=reports') ? SCRIPTS.filter((s) => s.folder === 'reports') : SCRIPTS
      return new Response(JSON.stringify({ items, total: 401, page: 1, per_page: 200 }), {
        headers: { 'Content-Type': 'application/json' },
      })
    }))
  })
  afterEach(() => {
    wrapper?.unmount()
    wrapper = null
    vi.useRealTimers()
    vi.unstubAllGlobals()
    document.body.innerHTML = ''
  })

  async function mountAt(path: string) {
    router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/scripts', name: 'scripts', component: ScriptsView },
        { path: '/scripts/:id', name: 'script', component: Stub },
        { path: '/executions/:id', name: 'execution', component: Stub },
      ],
    })
    await router.push(path)
    await router.isReady()
    wrapper = mount(ScriptsView, { global: { plugins: [router] }, attachTo: document.body })
    await flushPromises()
  }

  it('shows folders as a tree: demo/params inside demo, not beside it', async () => {
    await mountAt('/scripts')
    const demo = wrapper!.get('[data-test="folder-demo"]')
    expect(demo.find('[data-test="folder-demo/params"]').exists()).toBe(true)
    expect(demo.find('[data-test="folder-demo/params/more"]').exists()).toBe(true)
    expect(wrapper!.find('[data-test="folder-reports"] [data-test="folder-demo/params"]').exists()).toBe(false)
    expect(demo.get('[data-test="folder-toggle"]').text()).toContain('3')
    // closing demo hides what is inside, subfolders included
    await demo.get('[data-test="folder-toggle"]').trigger('click')
    expect(demo.get('[data-test="folder-toggle"]').attributes('aria-expanded')).toBe('false')
    expect((demo.get('[data-test="folder-demo/params"]').element.parentElement as HTMLElement).style.display).toBe('none')
  })

  it('reads search, tag, folder and page from the URL and asks the server with them', async () => {
    await mountAt('/scripts?q=urllib&tag=intro&folder=reports&page=2')
    expect(calls[0]).toBe('/api/scripts?q=urllib&tag=intro&folder=reports&page=2&per_page=200')
    expect((wrapper!.get('[data-test="script-search"] input').element as HTMLInputElement).value).toBe('urllib')
    expect(wrapper!.get('[data-test="script-search"] input').attributes('placeholder')).toContain('code')
  })

  it('writes typed search text to the URL (page back to 1) and reloads; back restores it', async () => {
    await mountAt('/scripts?page=2')
    await router.push('/scripts?page=2&tag=intro') // a second history entry to go back to
    await flushPromises()
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    await wrapper!.get('[data-test="script-search"] input').setValue('backup')
    await vi.advanceTimersByTimeAsync(400)
    vi.useRealTimers()
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ tag: 'intro', q: 'backup' })
    expect(calls.at(-1)).toBe('/api/scripts?q=backup&tag=intro&page=1&per_page=200')
    router.back()
    await until(() => router.currentRoute.value.query.page === '2')
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ page: '2' })
    expect(calls.at(-1)).toBe('/api/scripts?page=2&per_page=200')
  })

  it('puts a picked tag in the URL', async () => {
    await mountAt('/scripts')
    const chip = wrapper!.findAll('[data-test="tag-chip"]').find((c) => c.text() === 'intro')!
    await chip.trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ tag: 'intro' })
    expect(calls.at(-1)).toBe('/api/scripts?tag=intro&page=1&per_page=200')
  })
})
