/**
 * Issue 15 in the script and schedule editors: notifications (one picker for both), chains on
 * success / failure with the server's cycle message at the field, shared variables, a schedule's
 * pinned version; saved with the script (dirty tracking intact); the new pages in the menu.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import { createPinia, setActivePinia } from 'pinia'
import { nextTick, reactive, ref } from 'vue'
import type { Role } from '@/api/auth'
import { ProblemError } from '@/api/http'
import type { Channel, Subscription } from '@/api/notifications'
import type { Schedule } from '@/api/schedules'
import type { Script } from '@/api/scripts'
import App from '@/App.vue'
import NotificationPicker from '@/components/notifications/NotificationPicker.vue'
import {
  addSubscription,
  copySubscriptions,
  errorUnder,
  normalizeEvents,
  removeSubscription,
  setEvents,
  subscriptionProblems,
} from '@/components/notifications/subscriptions'
import ScheduleForm from '@/components/schedule/ScheduleForm.vue'
import { emptyScheduleForm, formFromSchedule, isScheduleField, toScheduleInput, validateScheduleForm } from '@/components/schedule/scheduleForm'
import ChainPicker from '@/components/script/ChainPicker.vue'
import ScriptSettings from '@/components/script/ScriptSettings.vue'
import VariablePicker from '@/components/script/VariablePicker.vue'
import { emptyForm, formFromScript, formToInput, problemToErrors, SETTINGS_FIELDS, snapshot } from '@/components/script/scriptForm'
import { createAppRouter } from '@/router'
import { useAuthStore } from '@/stores/auth'

vi.setConfig({ testTimeout: 30_000 })

const STAMP = '2026-03-01T10:00:00Z'
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

function script(partial: Partial<Script> = {}): Script {
  return {
    id: 7, name: 'export', language: 'python', description: '', code: 'print(1)\n', dependencies: [], parameters: [], tags: [],
    folder: '', timeout_seconds: null, max_concurrent: null, concurrency_policy: 'queue', max_retries: 0,
    retry_delay_seconds: 0, enabled: true, sandbox_network: true, run_as_user: null, version: 3, revision: 1,
    limits: { memory_mb: null, cpu_seconds: null, file_size_mb: null, open_files: null, processes: null },
    created_at: STAMP, updated_at: STAMP, last_run: null,
    notifications: [{ channel_id: 1, on: ['recovery', 'failure'] }], on_success: [8], on_failure: [], variables: ['API_URL'],
    ...partial,
  }
}
function channel(id: number, name: string, partial: Partial<Channel> = {}): Channel {
  return { id, name, type: 'webhook', config: {}, secrets: {}, enabled: true, created_at: STAMP, updated_at: STAMP, ...partial }
}
const CHANNELS = [channel(1, 'ops hook'), channel(2, 'team mail', { type: 'email', enabled: false })]
const SCRIPTS = [script(), script({ id: 8, name: 'import' }), script({ id: 9, name: 'cleanup', enabled: false })]
const VARIABLES = [
  { id: 1, name: 'API_URL', value: 'x', secret: false, description: 'the API', created_at: STAMP, updated_at: STAMP, updated_by: null },
  { id: 2, name: 'API_TOKEN', value: '***', secret: true, description: '', created_at: STAMP, updated_at: STAMP, updated_by: null },
]
const VERSIONS = [1, 2, 3].map((n) => ({ number: n, message: n === 2 ? 'faster' : '', author: 'admin', created_at: STAMP, current: n === 3 }))

let calls: string[] = []
let wrapper: VueWrapper | null = null
beforeEach(() => {
  calls = []
  vi.stubGlobal('matchMedia', () => ({ matches: false, addEventListener: () => undefined, removeEventListener: () => undefined }))
  vi.stubGlobal('fetch', vi.fn(async (url: string) => {
    calls.push(url)
    if (url === '/api/notification-channels/names') return json({ items: CHANNELS.map(({ id, name, type, enabled }) => ({ id, name, type, enabled })) })
    if (url.startsWith('/api/scripts?')) return json({ items: SCRIPTS, total: 3, page: 1, per_page: 100 })
    if (url === '/api/variables') return json({ items: VARIABLES, total: 2 })
    if (/^\/api\/scripts\/\d+\/versions/.test(url)) return json({ items: VERSIONS, total: 3 })
    return json({ title: 'Not Found', status: 404 }, 404)
  }))
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
  vi.unstubAllGlobals()
})

function signIn(role: Role) {
  const pinia = createPinia()
  setActivePinia(pinia)
  useAuthStore().user = { id: 1, username: 'u', full_name: '', role, active: true, created_at: STAMP, last_login_at: null }
  return pinia
}
function router() {
  return createRouter({ history: createMemoryHistory(), routes: [{ path: '/:p(.*)*', component: { template: '<div />' } }] })
}

describe('subscriptions', () => {
  it('keeps events in one order, so a toggle back and forth changes nothing', () => {
    expect(normalizeEvents(['recovery', 'failure', 'failure'])).toEqual(['failure', 'recovery'])
    const list: Subscription[] = [{ channel_id: 1, on: ['failure'] }]
    const toggled = setEvents(setEvents(list, 1, ['failure', 'success']), 1, ['failure'])
    expect(JSON.stringify(toggled)).toBe(JSON.stringify(list))
    expect(addSubscription(list, 2)).toEqual([...list, { channel_id: 2, on: ['failure'] }])
    expect(addSubscription(list, 1)).toEqual(list)
    expect(removeSubscription(list, 1)).toEqual([])
    expect(copySubscriptions(undefined)).toEqual([])
    expect(subscriptionProblems([{ channel_id: 1, on: [] }])).toEqual({ 'notifications.0.on': 'Pick at least one event, or remove the channel' })
    expect(errorUnder({ 'on_success.1': 'gone' }, 'on_success')).toBe('gone')
    expect(errorUnder({ on_successor: 'x' }, 'on_success')).toBeUndefined()
  })
})

describe('the script form', () => {
  it('loads, sends and tracks notifications, chains and variables', () => {
    const form = formFromScript(script())
    expect(form.notifications).toEqual([{ channel_id: 1, on: ['failure', 'recovery'] }])
    expect(form.on_success).toEqual([8])
    expect(form.variables).toEqual(['API_URL'])
    const clean = snapshot(form)
    form.on_failure.push(9)
    expect(snapshot(form)).not.toBe(clean)
    form.on_failure.pop()
    expect(snapshot(form)).toBe(clean)
    const { input, errors } = formToInput(form)
    expect(errors).toEqual({})
    expect(input).toMatchObject({ notifications: [{ channel_id: 1, on: ['failure', 'recovery'] }], on_success: [8], on_failure: [], variables: ['API_URL'] })
    form.notifications = setEvents(form.notifications, 1, [])
    expect(formToInput(form).errors).toEqual({ 'notifications.0.on': 'Pick at least one event, or remove the channel' })
    // a script from a server without these fields
    const old = formFromScript({ ...script(), notifications: undefined, on_success: undefined, on_failure: undefined, variables: undefined } as unknown as Script)
    expect([old.notifications, old.on_success, old.on_failure, old.variables]).toEqual([[], [], [], []])
    expect(emptyForm().notifications).toEqual([])
  })

  it('puts the server\'s cycle and unknown-variable refusals at their sections, inside the settings', () => {
    const cycle = new ProblemError({ title: 'Unprocessable', status: 422, detail: 'chain cycle: export → import → export', field: 'on_success' })
    expect(problemToErrors(cycle)).toEqual({ on_success: 'Chain cycle: export → import → export' })
    const unknown = new ProblemError({ title: 'Unprocessable', status: 422, detail: "variables.0: no shared variable is named 'X'", field: 'variables.0' })
    expect(problemToErrors(unknown)).toEqual({ 'variables.0': "No shared variable is named 'X'" })
    for (const field of ['on_success', 'on_failure.0', 'variables.0', 'notifications.1.channel_id']) expect(SETTINGS_FIELDS.test(field)).toBe(true)
  })
})

describe('NotificationPicker', () => {
  function mountPicker(role: Role, value: Subscription[], props: Record<string, unknown> = {}) {
    const pinia = signIn(role)
    const model = ref(value)
    wrapper = mount(NotificationPicker, {
      props: {
        modelValue: value,
        'onUpdate:modelValue': (next: Subscription[]) => {
          model.value = next
          void wrapper!.setProps({ modelValue: next })
        },
        ...props,
      },
      global: { plugins: [pinia, router()] },
      attachTo: document.body,
    })
    return model
  }

  it('lets an admin add a channel (on failure) and pick its events', async () => {
    const model = mountPicker('admin', [])
    await flushPromises()
    expect(wrapper!.get('[data-test=no-notifications]').text()).toContain('nobody hears')
    const select = wrapper!.getComponent({ name: 'ElSelect' })
    select.vm.$emit('update:modelValue', 2)
    await nextTick()
    await wrapper!.get('[data-test=add-channel]').trigger('click')
    expect(model.value).toEqual([{ channel_id: 2, on: ['failure'] }])
    await flushPromises()
    const row = wrapper!.get('[data-test=subscription-2]')
    expect(row.text()).toContain('team mail')
    expect(row.text()).toContain('disabled')
    await row.get('[data-test=event-recovery] input').setValue(true)
    expect(model.value).toEqual([{ channel_id: 2, on: ['failure', 'recovery'] }])
    await row.get('[data-test=remove-subscription]').trigger('click')
    expect(model.value).toEqual([])
  })

  it('lets an editor pick channels by name (never their config), and says who makes channels', async () => {
    const model = mountPicker('editor', [{ channel_id: 3, on: ['failure'] }], { errors: { 'notifications.0.channel_id': 'Channel 3 does not exist.' } })
    await flushPromises()
    expect(calls).toContain('/api/notification-channels/names')
    expect(calls).not.toContain('/api/notification-channels')
    expect(wrapper!.get('[data-test=subscription-3]').text()).toContain('Channel #3')
    expect(wrapper!.get('[data-test=subscription-error]').text()).toBe('Channel 3 does not exist.')
    expect(wrapper!.get('[data-test=channels-admin-note]').text()).toContain('An administrator manages channels')
    wrapper!.getComponent({ name: 'ElSelect' }).vm.$emit('update:modelValue', 1)
    await nextTick()
    await wrapper!.get('[data-test=add-channel]').trigger('click')
    expect(model.value).toEqual([
      { channel_id: 3, on: ['failure'] },
      { channel_id: 1, on: ['failure'] },
    ])
    await flushPromises()
    expect(wrapper!.get('[data-test=subscription-1]').text()).toContain('ops hook')
    await wrapper!.get('[data-test=subscription-3] [data-test=event-timeout] input').setValue(true)
    expect(model.value[0]).toEqual({ channel_id: 3, on: ['failure', 'timeout'] })
  })

  it('is read-only for a viewer', async () => {
    mountPicker('viewer', [{ channel_id: 1, on: ['failure'] }], { readonly: true })
    await flushPromises()
    expect(wrapper!.find('[data-test=remove-subscription]').exists()).toBe(false)
    expect(wrapper!.get('[data-test=event-failure] input').attributes('disabled')).toBeDefined()
  })
})

describe('ChainPicker and VariablePicker', () => {
  it('offers the other scripts, never this one, and shows the cycle message at its list', async () => {
    const pinia = signIn('editor')
    const success = ref<number[]>([8])
    const failure = ref<number[]>([])
    wrapper = mount(ChainPicker, {
      props: {
        onSuccess: success.value,
        onFailure: failure.value,
        scriptId: 7,
        errors: { on_success: 'Chain cycle: export → import → export' },
      },
      global: { plugins: [pinia, router()] },
      attachTo: document.body,
    })
    await flushPromises()
    await wrapper!.get('[data-test=chain-failure]').trigger('click')
    await flushPromises()
    const offered = [...document.querySelectorAll('.el-select-dropdown__item')].map((o) => o.textContent?.trim())
    expect(offered).toContain('import')
    expect(offered).toContain('cleanup (disabled)')
    expect(offered).not.toContain('export')
    expect(wrapper!.get('[data-test=chain-success]').text()).toContain('import')
    await vi.waitFor(() => expect(wrapper!.text()).toContain('Chain cycle: export → import → export'))
  })

  it('offers the shared variables by name, marking secret ones', async () => {
    const pinia = signIn('editor')
    const names = ref<string[]>(['API_URL', 'GONE'])
    wrapper = mount(VariablePicker, { props: { modelValue: names.value }, global: { plugins: [pinia, router()] }, attachTo: document.body })
    await flushPromises()
    expect(calls).toContain('/api/variables')
    const tags = wrapper!.get('[data-test=script-variables]').text()
    expect(tags).toContain('API_URL')
    expect(tags).toContain('GONE') // a name without a variable stays visible, so it can be removed
  })
})

describe('ScriptSettings', () => {
  it('has the notifications, chains and variables sections under the run settings', async () => {
    const pinia = signIn('admin')
    const r = createRouter({ history: createMemoryHistory(), routes: [{ path: '/scripts/:id', component: { template: '<div />' } }] })
    await r.push('/scripts/7')
    const form = reactive(formFromScript(script()))
    wrapper = mount(ScriptSettings, { props: { form, errors: {} }, global: { plugins: [pinia, r] }, attachTo: document.body })
    await flushPromises()
    for (const hook of ['settings-notifications', 'settings-chains', 'settings-variables']) expect(wrapper.find(`[data-test=${hook}]`).exists()).toBe(true)
    expect(wrapper.get('[data-test=subscription-1]').text()).toContain('ops hook')
    // the script being edited (from the route) is not offered as its own chain target
    await wrapper.get('[data-test=chain-failure]').trigger('click')
    await flushPromises()
    const offered = [...document.querySelectorAll('.el-select-dropdown__item')].map((o) => o.textContent?.trim())
    expect(offered).not.toContain('export')
  })
})

describe('the schedule form', () => {
  function schedule(partial: Partial<Schedule> = {}): Schedule {
    return {
      id: 4, name: 'nightly', script_id: 7, script_name: 'export', cron: '0 2 * * *', timezone: 'UTC', params: {}, enabled: true,
      overlap_policy: 'skip', misfire_grace_seconds: 60, version: 2, notifications: [{ channel_id: 1, on: ['timeout', 'failure'] }],
      last_run_at: null, last_status: null, next_run_at: null, created_at: STAMP, updated_at: STAMP, ...partial,
    }
  }

  it('round-trips the pinned version and the notifications', () => {
    const state = formFromSchedule(schedule())
    expect(state.version).toBe(2)
    expect(state.notifications).toEqual([{ channel_id: 1, on: ['failure', 'timeout'] }])
    expect(toScheduleInput(state, {})).toMatchObject({ version: 2, notifications: [{ channel_id: 1, on: ['failure', 'timeout'] }] })
    expect(emptyScheduleForm().version).toBeNull()
    expect(formFromSchedule({ ...schedule(), version: undefined, notifications: undefined } as unknown as Schedule)).toMatchObject({ version: null, notifications: [] })
    expect(validateScheduleForm({ ...state, notifications: [{ channel_id: 1, on: [] }] })['notifications.0.on']).toBeTruthy()
    for (const field of ['version', 'notifications.0.channel_id', 'params.x', 'cron']) expect(isScheduleField(field)).toBe(true)
    expect(isScheduleField('nothing')).toBe(false)
  })

  it('offers Latest or a version of the script, and the notification picker', async () => {
    const pinia = signIn('admin')
    const state = reactive(formFromSchedule(schedule({ version: null })))
    wrapper = mount(ScheduleForm, {
      props: { state, paramForm: { values: {}, storedSecrets: [] }, scripts: SCRIPTS, errors: {} },
      global: { plugins: [pinia, router()] },
      attachTo: document.body,
    })
    await flushPromises()
    expect(calls).toContain('/api/scripts/7/versions')
    expect(wrapper.get('[data-test=schedule-version]').text()).toContain('Latest')
    await wrapper.get('[data-test=schedule-version]').trigger('click')
    await flushPromises()
    const options = [...document.querySelectorAll('.el-select-dropdown__item')].map((o) => o.textContent?.trim() ?? '')
    expect(options.some((o) => o.startsWith('v3 (current)'))).toBe(true)
    expect(options.some((o) => o.startsWith('v2 — faster'))).toBe(true)
    const v2 = [...document.querySelectorAll('.el-select-dropdown__item')].find((o) => o.textContent?.startsWith('v2')) as HTMLElement
    v2.click()
    await flushPromises()
    expect(state.version).toBe(2)
    expect(wrapper.get('[data-test=schedule-pinned]').text()).toContain('runs v2')
    expect(wrapper.get('[data-test=notification-picker]').text()).toContain('ops hook')
  })
})

describe('the menu and the pages', () => {
  async function openApp(role: Role, path: string) {
    const pinia = signIn(role)
    const r = createAppRouter(createMemoryHistory())
    useAuthStore().checked = true
    await r.push(path)
    await r.isReady()
    wrapper = mount(App, { global: { plugins: [pinia, r] }, attachTo: document.body })
    await flushPromises()
    return r
  }

  it('offers Notifications to admins only, Variables to everyone', async () => {
    await openApp('admin', '/')
    const menu = wrapper!.get('[data-test=sidebar]').text()
    expect(menu).toContain('Notifications')
    expect(menu).toContain('Variables')
    wrapper!.unmount()
    await openApp('viewer', '/')
    const viewerMenu = wrapper!.get('[data-test=sidebar]').text()
    expect(viewerMenu).not.toContain('Notifications')
    expect(viewerMenu).toContain('Variables')
  })

  it('names the tab, and tells a non-admin that Notifications needs the administrator role', async () => {
    await openApp('editor', '/admin/notifications')
    expect(wrapper!.get('[data-test=forbidden]').text()).toContain('“Notifications”')
    wrapper!.unmount()
    const r = await openApp('viewer', '/admin/variables')
    expect(r.currentRoute.value.name).toBe('variables')
    await vi.waitFor(() => expect(wrapper!.find('[data-test=variable-list]').exists()).toBe(true))
    expect(document.title).toBe('Variables · Scriptman')
  })
})
