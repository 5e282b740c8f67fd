/**
 * Issue 15, the "Variables" page: everyone reads the list (a secret as ***), admins create, edit and
 * delete; a secret is never shown again (editing asks for a new value, empty keeps it), and a delete
 * refused because scripts still use the variable names them on the page.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import type { Role } from '@/api/auth'
import { ProblemError } from '@/api/http'
import type { Variable } from '@/api/variables'
import { variableFormProblems, variableProblem } from '@/components/notifications/variableForm'
import { useAuthStore } from '@/stores/auth'
import VariablesView from '@/views/VariablesView.vue'

vi.setConfig({ testTimeout: 30_000 })

vi.mock('element-plus', async (original) => {
  const actual = await original<typeof import('element-plus')>()
  return { ...actual, ElMessage: { success: vi.fn(), error: vi.fn() }, ElMessageBox: { confirm: async () => 'confirm' } }
})

const STAMP = '2026-03-01T10:00:00Z'
function variable(partial: Partial<Variable> = {}): Variable {
  return {
    id: 1, name: 'API_URL', value: 'https://api.example.com', secret: false, description: 'the API', created_at: STAMP,
    updated_at: STAMP, updated_by: 'admin', ...partial,
  }
}
const TOKEN = variable({ id: 2, name: 'API_TOKEN', value: '***', secret: true, description: '' })

describe('the variable form checks', () => {
  it('wants a valid name on create and a new value when a secret becomes plain', () => {
    const blank = { name: '', description: '', secret: false, value: '' }
    expect(variableFormProblems(blank, null)).toEqual({ name: 'A name is required.' })
    expect(variableFormProblems({ ...blank, name: '1ABC' }, null).name).toMatch(/Upper-case/)
    expect(variableFormProblems({ ...blank, name: 'OK_1' }, null)).toEqual({})
    expect(variableFormProblems({ ...blank, name: 'API_TOKEN', secret: false }, TOKEN).value).toMatch(/never shown/)
    expect(variableFormProblems({ ...blank, name: 'API_TOKEN', secret: true }, TOKEN)).toEqual({})
  })

  it('puts a server problem at its field', () => {
    const problem = new ProblemError({ title: 'Unprocessable', status: 422, detail: 'name: Value error, names starting with SCRIPTMAN_ are reserved', field: 'name' })
    expect(variableProblem(problem)).toEqual({ name: 'Names starting with SCRIPTMAN_ are reserved' })
    expect(variableProblem(new ProblemError({ title: 'x', status: 409, detail: 'y', field: null }))).toBeNull()
  })
})

describe('VariablesView', () => {
  let wrapper: VueWrapper | null = null
  let calls: { method: string; url: string; body: unknown }[] = []
  let deleteAnswer: Response | null = null
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

  beforeEach(() => {
    calls = []
    deleteAnswer = null
    vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method || 'GET'
      calls.push({ method, url, body: init?.body ? JSON.parse(String(init.body)) : undefined })
      if (url === '/api/variables' && method === 'GET') return json({ items: [variable(), TOKEN], total: 2 })
      if (url === '/api/variables' && method === 'POST') return json(variable({ id: 3, name: 'NEW_ONE' }), 201)
      if (method === 'PATCH') return json(TOKEN)
      if (method === 'DELETE') return deleteAnswer ?? new Response(null, { status: 204 })
      return json({ title: 'Not Found', status: 404 }, 404)
    }))
  })
  afterEach(() => {
    wrapper?.unmount()
    wrapper = null
    document.body.innerHTML = ''
    vi.unstubAllGlobals()
  })

  async function mountView(role: Role): Promise<void> {
    setActivePinia(createPinia())
    useAuthStore().user = { id: 1, username: 'u', full_name: '', role, active: true, created_at: STAMP, last_login_at: null }
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/admin/variables', component: VariablesView }] })
    await router.push('/admin/variables')
    wrapper = mount(VariablesView, { global: { plugins: [router] }, attachTo: document.body })
    await flushPromises()
  }
  const row = (name: string) => wrapper!.findAll('[data-test=variable-list] tbody tr').find((r) => r.text().includes(name))!
  const dialog = () => document.querySelector('.el-dialog') as HTMLElement
  async function fill(hook: string, value: string): Promise<void> {
    const input = dialog().querySelector(`[data-test=${hook}] input, [data-test=${hook}] textarea`) as HTMLInputElement
    input.value = value
    input.dispatchEvent(new Event('input'))
    await flushPromises()
  }

  it('shows a viewer the list read-only, a secret as ***', async () => {
    await mountView('viewer')
    expect(row('API_URL').text()).toContain('https://api.example.com')
    expect(row('API_TOKEN').get('[data-test=secret-value]').text()).toBe('***')
    expect(row('API_TOKEN').text()).toContain('secret')
    expect(wrapper!.find('[data-test=new-variable]').exists()).toBe(false)
    expect(wrapper!.find('[data-test=edit-variable]').exists()).toBe(false)
    expect(wrapper!.text()).toContain('An administrator manages them.')
  })

  it('lets an admin create a variable (the name upper-cased as typed)', async () => {
    await mountView('admin')
    await wrapper!.get('[data-test=new-variable]').trigger('click')
    await flushPromises()
    await fill('variable-name', 'new_one')
    await fill('variable-value', 'v1')
    ;(dialog().querySelector('[data-test=save-variable]') as HTMLElement).click()
    await flushPromises()
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({ name: 'NEW_ONE', description: '', secret: false, value: 'v1' })
  })

  it('edits a secret without showing it: empty keeps the value, a new one is sent', async () => {
    await mountView('admin')
    await row('API_TOKEN').get('[data-test=edit-variable]').trigger('click')
    await flushPromises()
    const value = dialog().querySelector('[data-test=variable-value] input') as HTMLInputElement
    expect(value.value).toBe('')
    expect(value.type).toBe('password')
    expect(value.placeholder).toContain('leave empty to keep')
    expect(dialog().textContent).toContain('New value')
    await fill('variable-description', 'the token')
    ;(dialog().querySelector('[data-test=save-variable]') as HTMLElement).click()
    await flushPromises()
    let patch = calls.find((c) => c.method === 'PATCH')!
    expect(patch.url).toBe('/api/variables/API_TOKEN')
    expect(patch.body).toEqual({ description: 'the token' })

    calls = []
    await row('API_TOKEN').get('[data-test=edit-variable]').trigger('click')
    await flushPromises()
    await fill('variable-value', 'rotated')
    ;(dialog().querySelector('[data-test=save-variable]') as HTMLElement).click()
    await flushPromises()
    patch = calls.find((c) => c.method === 'PATCH')!
    expect(patch.body).toEqual({ value: 'rotated' })
  })

  it('keeps a refused delete on the page, naming the scripts that use the variable', async () => {
    await mountView('admin')
    deleteAnswer = json({ title: 'Conflict', status: 409, detail: "Shared variable 'API_URL' is used by 2 script(s): 'export', 'import'; remove it from them first.", field: 'name' }, 409)
    await row('API_URL').get('[data-test=delete-variable]').trigger('click')
    await flushPromises()
    expect(calls.some((c) => c.method === 'DELETE' && c.url === '/api/variables/API_URL')).toBe(true)
    expect(wrapper!.get('[data-test=variable-notice]').text()).toContain("used by 2 script(s): 'export', 'import'")
    expect(row('API_URL').exists()).toBe(true)
  })
})
