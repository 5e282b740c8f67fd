/**
 * Issue 15, the "Notifications" admin page: channels per type with write-only credentials, a 422
 * shown at the field it names, "send test" with its outcome, the delivery history and delete.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import { defineComponent } from 'vue'
import { ProblemError } from '@/api/http'
import type { Channel, Delivery } from '@/api/notifications'
import * as api from '@/api/notifications'
import {
  channelErrorField,
  channelProblem,
  channelTarget,
  emptyChannelForm,
  formFromChannel,
  toChannelConfig,
} from '@/components/notifications/channelForm'
import { deliveryOutcome } from '@/components/notifications/deliveries'
import { useAuthStore } from '@/stores/auth'
import NotificationsView from '@/views/NotificationsView.vue'

vi.setConfig({ testTimeout: 30_000 })

const confirm = vi.fn(async () => 'confirm')
vi.mock('element-plus', async (original) => {
  const actual = await original<typeof import('element-plus')>()
  return { ...actual, ElMessage: { success: vi.fn(), error: vi.fn() }, ElMessageBox: { confirm: () => confirm() } }
})

const STAMP = '2026-03-01T10:00:00Z'
function channel(partial: Partial<Channel> = {}): Channel {
  return {
    id: 1, name: 'ops hook', type: 'webhook', config: { url: 'https://hooks.example.com/x', secret: '***' },
    secrets: { secret: true }, enabled: true, created_at: STAMP, updated_at: STAMP, ...partial,
  }
}
const EMAIL = channel({
  id: 2, name: 'mail', type: 'email', secrets: { password: true },
  config: { host: 'smtp.example.com', port: 587, security: 'starttls', username: 'bot', password: '***', from: 'bot@example.com', to: ['a@example.com'] },
})
const SLACK = channel({ id: 3, name: 'chat', type: 'slack', secrets: { url: true }, config: { url: '***' } })

function delivery(partial: Partial<Delivery> = {}): Delivery {
  return {
    id: 9, channel_id: 1, channel_name: 'ops hook', channel_type: 'webhook', execution_id: null, event: 'test',
    status: 'sent', attempts: 1, next_attempt_at: null, last_error: null, response_status: 200, created_at: STAMP,
    sent_at: STAMP, ...partial,
  }
}

describe('the channel form model', () => {
  it('keeps a stored credential (***), sends a new one, and clears one on request', () => {
    const form = formFromChannel(channel())
    expect(form.url).toBe('https://hooks.example.com/x')
    expect(form.secret).toBe('') // never shown
    expect(toChannelConfig(form).config).toEqual({ url: 'https://hooks.example.com/x', secret: '***' })
    form.secret = 'fresh'
    expect(toChannelConfig(form).config).toEqual({ url: 'https://hooks.example.com/x', secret: 'fresh' })
    form.secret = ''
    form.clear.secret = true
    expect(toChannelConfig(form).config).toEqual({ url: 'https://hooks.example.com/x', secret: '' })
    expect(toChannelConfig({ ...emptyChannelForm('webhook'), url: 'http://h/x' }).config).toEqual({ url: 'http://h/x', secret: null })
  })

  it('builds the e-mail config with the password write-only and checks the required fields', () => {
    const form = formFromChannel(EMAIL)
    expect(form).toMatchObject({ host: 'smtp.example.com', port: 587, security: 'starttls', username: 'bot', password: '', from: 'bot@example.com', to: ['a@example.com'] })
    expect(toChannelConfig(form)).toEqual({
      config: { host: 'smtp.example.com', port: 587, security: 'starttls', username: 'bot', password: '***', from: 'bot@example.com', to: ['a@example.com'] },
      errors: {},
    })
    const blank = toChannelConfig({ ...emptyChannelForm('email'), password: 'x' })
    expect(Object.keys(blank.errors).sort()).toEqual(['from', 'host', 'to', 'username'])
    expect(blank.config).toMatchObject({ port: null, username: null, password: 'x' })
  })

  it('treats the Slack URL as a credential: required on create, kept on edit', () => {
    expect(toChannelConfig(emptyChannelForm('slack')).errors.url).toMatch(/required/)
    const form = formFromChannel(SLACK)
    expect(form.url).toBe('')
    expect(toChannelConfig(form)).toEqual({ config: { url: '***' }, errors: {} })
    expect(channelTarget(SLACK)).toBe('incoming webhook (URL set)')
    expect(channelTarget(EMAIL)).toBe('a@example.com via smtp.example.com')
  })

  it('maps a server problem to the form field it names', () => {
    expect(channelErrorField('config.to.0')).toBe('to')
    expect(channelErrorField('config.from')).toBe('from')
    expect(channelErrorField('name')).toBe('name')
    expect(channelErrorField('other')).toBeNull()
    const problem = new ProblemError({ title: 'Unprocessable', status: 422, detail: "config.to.0: 'nope' is not an e-mail address", field: 'config.to.0' })
    expect(channelProblem(problem)).toEqual({ to: "Recipient 1: 'nope' is not an e-mail address" })
    expect(channelProblem(new Error('x'))).toBeNull()
  })

  it('says how a delivery went', () => {
    expect(deliveryOutcome(delivery())).toBe('Sent (answer 200).')
    expect(deliveryOutcome(delivery({ status: 'failed', last_error: 'connection refused', response_status: null }))).toBe('Failed: connection refused.')
    expect(deliveryOutcome(delivery({ status: 'pending', last_error: 'HTTP 500', response_status: 500 }))).toBe('Not sent yet, will retry: HTTP 500 (answer 500).')
  })

  it('calls the documented URLs', async () => {
    const seen: string[] = []
    vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
      seen.push(`${init?.method || 'GET'} ${url}`)
      return new Response(init?.method === 'DELETE' ? null : '{}', { status: init?.method === 'DELETE' ? 204 : 200, headers: { 'Content-Type': 'application/json' } })
    }))
    await api.listChannels()
    await api.createChannel({ name: 'a', type: 'slack', config: { url: 'https://x' } })
    await api.updateChannel(4, { enabled: false })
    await api.testChannel(4)
    await api.listDeliveries(4, { page: 2, per_page: 20 })
    await api.deleteChannel(4)
    await api.listExecutionNotifications(5)
    expect(seen).toEqual([
      'GET /api/notification-channels',
      'POST /api/notification-channels',
      'PATCH /api/notification-channels/4',
      'POST /api/notification-channels/4/test',
      'GET /api/notification-channels/4/deliveries?page=2&per_page=20',
      'DELETE /api/notification-channels/4',
      'GET /api/executions/5/notifications',
    ])
    vi.unstubAllGlobals()
  })
})

describe('NotificationsView', () => {
  let wrapper: VueWrapper | null = null
  let calls: { method: string; url: string; body: unknown }[] = []
  let channels: Channel[] = []
  let testAnswer: Delivery = delivery()
  let createAnswer: Response | null = null

  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

  beforeEach(() => {
    calls = []
    channels = [channel(), EMAIL]
    testAnswer = delivery()
    createAnswer = null
    vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method || 'GET'
      calls.push({ method, url, body: init?.body ? JSON.parse(String(init.body)) : undefined })
      if (url === '/api/notification-channels' && method === 'GET') return json({ items: channels, total: channels.length })
      if (url === '/api/notification-channels' && method === 'POST') return createAnswer ?? json(channel({ id: 5, name: 'new' }), 201)
      if (/\/test$/.test(url)) return json(testAnswer)
      if (/\/deliveries/.test(url)) {
        return json({ items: [delivery({ execution_id: 41, event: 'failure', status: 'failed', attempts: 3, last_error: 'HTTP 500', response_status: 500 })], total: 1, page: 1, per_page: 20 })
      }
      if (method === 'DELETE') return new Response(null, { status: 204 })
      return json({ title: 'Not Found', status: 404 }, 404)
    }))
  })
  afterEach(() => {
    wrapper?.unmount()
    wrapper = null
    document.body.innerHTML = ''
    vi.unstubAllGlobals()
  })

  async function mountView(): Promise<void> {
    setActivePinia(createPinia())
    useAuthStore().user = { id: 1, username: 'admin', full_name: '', role: 'admin', active: true, created_at: STAMP, last_login_at: null }
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/admin/notifications', component: NotificationsView },
        { path: '/executions/:id', component: defineComponent({ template: '<div />' }) },
      ],
    })
    await router.push('/admin/notifications')
    wrapper = mount(NotificationsView, { global: { plugins: [router] }, attachTo: document.body })
    await flushPromises()
  }

  const row = (name: string) => wrapper!.findAll('[data-test=channel-list] tbody tr').find((r) => r.text().includes(name))!

  it('lists the channels with type, target and enabled switch', async () => {
    await mountView()
    const list = wrapper!.get('[data-test=channel-list]').text()
    expect(list).toContain('ops hook')
    expect(list).toContain('Webhook (JSON POST)')
    expect(list).toContain('https://hooks.example.com/x')
    expect(list).toContain('E-mail (SMTP)')
    expect(list).not.toContain('***')
  })

  it('sends a test and shows "sent", or "failed" with the error', async () => {
    await mountView()
    await row('ops hook').get('[data-test=send-test]').trigger('click')
    await flushPromises()
    expect(calls.some((c) => c.method === 'POST' && c.url === '/api/notification-channels/1/test')).toBe(true)
    expect(row('ops hook').get('[data-test=test-status]').text()).toBe('sent')
    testAnswer = delivery({ id: 10, channel_id: 2, status: 'failed', last_error: 'SMTP login refused', response_status: 535 })
    await row('mail').get('[data-test=send-test]').trigger('click')
    await flushPromises()
    expect(row('mail').get('[data-test=test-status]').text()).toBe('failed')
    expect(row('mail').get('[data-test=test-error]').text()).toBe('Failed: SMTP login refused (answer 535).')
  })

  it('shows a channel\'s delivery history with a link to the run', async () => {
    await mountView()
    await row('ops hook').get('[data-test=channel-history]').trigger('click')
    await flushPromises()
    const history = document.querySelector('[data-test=delivery-history]') as HTMLElement
    expect(history.textContent).toContain('failure')
    expect(history.textContent).toContain('HTTP 500')
    expect(history.querySelector('a')?.getAttribute('href')).toBe('/executions/41')
    expect(calls.some((c) => c.url === '/api/notification-channels/1/deliveries?page=1&per_page=20')).toBe(true)
  })

  it('creates a webhook channel, and shows a 422 at the field it names', async () => {
    await mountView()
    await wrapper!.get('[data-test=new-channel]').trigger('click')
    await flushPromises()
    const dialog = () => document.querySelector('[data-test=channel-dialog]') as HTMLElement
    const fill = async (hook: string, value: string) => {
      const input = dialog().querySelector(`[data-test=${hook}] input`) as HTMLInputElement
      input.value = value
      input.dispatchEvent(new Event('input'))
      await flushPromises()
    }
    // nothing typed: the required fields say so, nothing is sent
    ;(dialog().querySelector('[data-test=save-channel]') as HTMLElement).click()
    await flushPromises()
    // (a form item's message appears through a transition)
    await vi.waitFor(() => expect(dialog().textContent).toContain('Give the channel a name.'))
    expect(dialog().textContent).toContain('The URL is required.')
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0)

    await fill('channel-name', 'new')
    await fill('channel-url', 'ftp://nope')
    createAnswer = json({ title: 'Unprocessable', status: 422, detail: 'config.url: must be an absolute http:// or https:// URL', field: 'config.url' }, 422)
    ;(dialog().querySelector('[data-test=save-channel]') as HTMLElement).click()
    await flushPromises()
    const urlItem = dialog().querySelector('[data-test=channel-url]')!.closest('.el-form-item')!
    expect(urlItem.classList.contains('is-error')).toBe(true)
    await vi.waitFor(() => expect(urlItem.textContent).toContain('Must be an absolute http:// or https:// URL'))
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({ name: 'new', type: 'webhook', enabled: true, config: { url: 'ftp://nope', secret: null } })

    createAnswer = null
    await fill('channel-url', 'https://ok.example.com/')
    ;(dialog().querySelector('[data-test=save-channel]') as HTMLElement).click()
    await flushPromises()
    expect(wrapper!.get('[data-test=channel-list]').text()).toContain('new')
  })

  it('edits a channel: a stored secret shows "set" and an empty field keeps it', async () => {
    await mountView()
    await row('ops hook').get('[data-test=edit-channel]').trigger('click')
    await flushPromises()
    const dialog = document.querySelector('[data-test=channel-dialog]') as HTMLElement
    expect(dialog.querySelector('[data-test=secret-set]')?.textContent).toContain('set')
    expect((dialog.querySelector('[data-test=channel-secret] input') as HTMLInputElement).value).toBe('')
    ;(dialog.querySelector('[data-test=save-channel]') as HTMLElement).click()
    await flushPromises()
    const patch = calls.find((c) => c.method === 'PATCH')!
    expect(patch.url).toBe('/api/notification-channels/1')
    expect(patch.body).toEqual({ name: 'ops hook', enabled: true, config: { url: 'https://hooks.example.com/x', secret: '***' } })
  })

  it('deletes a channel after the confirmation', async () => {
    await mountView()
    await row('mail').get('[data-test=delete-channel]').trigger('click')
    await flushPromises()
    expect(confirm).toHaveBeenCalled()
    expect(calls.some((c) => c.method === 'DELETE' && c.url === '/api/notification-channels/2')).toBe(true)
    expect(wrapper!.get('[data-test=channel-list]').text()).not.toContain('mail')
  })
})
