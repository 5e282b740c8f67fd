/**
 * Issue 14, the app shell: a page above the user's role says why instead of a silent jump, the
 * browser tab names the page, and on a phone the navigation is a drawer over the page.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, type Router } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import App from '@/App.vue'
import { createAppRouter } from '@/router'
import type { Role } from '@/api/auth'

// Each test loads the real pages lazily, as the app does: the first import of one takes a while.
vi.setConfig({ testTimeout: 30_000 })

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

function user(role: Role) {
  return { id: 7, username: 'vera', full_name: 'Vera', role, active: true, created_at: '2026-01-01T00:00:00Z', last_login_at: null }
}

let role: Role = 'viewer'
let narrow = false
let wrapper: VueWrapper | null = null

beforeEach(() => {
  narrow = false
  vi.stubGlobal('matchMedia', (query: string) => ({
    matches: narrow && query === '(max-width: 760px)',
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
  }))
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      if (url === '/api/auth/session') return json({ user: user(role), csrf_token: 'x' })
      if (url.startsWith('/api/users')) return json({ items: [user(role)], total: 1 })
      return json({ title: 'Not Found', status: 404 }, 404)
    }),
  )
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.unstubAllGlobals()
})

async function open(path: string): Promise<Router> {
  setActivePinia(createPinia())
  const router = createAppRouter(createMemoryHistory())
  await router.push(path)
  await router.isReady()
  wrapper = mount(App, { global: { plugins: [router] }, attachTo: document.body })
  await flushPromises()
  return router
}

describe('a page above the user role', () => {
  it('tells a viewer which role Users needs, at the same address, with a way back', async () => {
    role = 'viewer'
    const router = await open('/admin/users')
    expect(router.currentRoute.value.fullPath).toBe('/admin/users') // not sent to the dashboard
    const notice = wrapper!.get('[data-test=forbidden]')
    expect(notice.text()).toContain('You need the administrator role to open “Users”')
    expect(notice.text()).toContain('vera')
    expect(notice.get('a').attributes('href')).toBe('/')
    expect(wrapper!.find('[data-test=user-list]').exists()).toBe(false)
    expect(document.title).toBe('No access · Users · Scriptman')
    // the menu offers no admin pages to a viewer
    expect(wrapper!.get('[data-test=sidebar]').text()).not.toContain('Audit log')
  })

  it('tells a viewer that a new schedule needs the editor role', async () => {
    role = 'viewer'
    await open('/schedules/new')
    expect(wrapper!.get('[data-test=forbidden]').text()).toContain('You need the editor or administrator role to open “New schedule”')
  })

  it('opens the page for a role that may see it', async () => {
    role = 'admin'
    await open('/admin/users')
    expect(wrapper!.find('[data-test=forbidden]').exists()).toBe(false)
    expect(wrapper!.find('[data-test=user-list]').exists()).toBe(true)
    expect(document.title).toBe('Users · Scriptman')
    expect(wrapper!.get('[data-test=sidebar]').text()).toContain('Audit log')
  })
})

describe('the browser tab title', () => {
  it('names the page, and follows navigation', async () => {
    role = 'editor'
    const router = await open('/executions')
    expect(document.title).toBe('Executions · Scriptman')
    await router.push('/account')
    await flushPromises()
    expect(document.title).toBe('Account & API tokens · Scriptman')
    await router.push('/no/such/page')
    await flushPromises()
    expect(document.title).toBe('Page not found · Scriptman')
  })
})

describe('navigation on a phone', () => {
  it('has no rail: a menu button opens a drawer over the page, and choosing a page closes it', async () => {
    role = 'admin'
    narrow = true
    const router = await open('/executions')
    expect(wrapper!.find('[data-test=sidebar]').exists()).toBe(false)
    const toggle = () => wrapper!.get('[data-test=menu-toggle]')
    const drawer = () => document.querySelector('[data-test=nav-drawer]') as HTMLElement | null
    expect(toggle().attributes('aria-expanded')).toBe('false')
    await toggle().trigger('click')
    await flushPromises()
    expect(toggle().attributes('aria-expanded')).toBe('true')
    expect(drawer()?.textContent).toContain('Schedules')
    expect(drawer()?.textContent).toContain('Audit log')
    await router.push('/schedules')
    await flushPromises()
    expect(toggle().attributes('aria-expanded')).toBe('false')
  })

  it('keeps the sidebar on a wide screen, folding to icons with the same button', async () => {
    role = 'admin'
    await open('/executions')
    const aside = wrapper!.get('[data-test=sidebar]')
    expect(aside.attributes('style')).toContain('var(--sm-sidebar-width)')
    await wrapper!.get('[data-test=menu-toggle]').trigger('click')
    expect(wrapper!.get('[data-test=sidebar]').attributes('style')).toContain('64px')
  })
})

describe('the user menu', () => {
  it('links to the API tokens section of the account page', async () => {
    role = 'viewer'
    const router = await open('/')
    await wrapper!.get('[data-test=user-menu]').trigger('click')
    await flushPromises()
    const tokens = document.querySelector('[data-test=menu-tokens]') as HTMLElement
    expect(tokens.textContent).toContain('API tokens')
    tokens.click()
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/account#tokens')
  })
})
