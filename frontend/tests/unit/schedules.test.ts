import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { nextTick } from 'vue'
import { ProblemError } from '@/api/http'
import * as api from '@/api/schedules'
import CronInput from '@/components/CronInput.vue'
import CronPreview from '@/components/CronPreview.vue'
import { fromParamForm, staleParams, toParamForm } from '@/components/schedule/paramValues'
import { emptyScheduleForm, formFromSchedule, toScheduleInput, validateScheduleForm } from '@/components/schedule/scheduleForm'

type Call = { url: string; method: string; body: unknown }

function jsonResponse(status: number, body: unknown): Response {
  const type = status >= 400 ? 'application/problem+json' : 'application/json'
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': type } })
}

function stubFetch(handler: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = []
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const signal = init?.signal
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError')
    const call = {
      url: String(input),
      method: init?.method || 'GET',
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
    }
    calls.push(call)
    return handler(call)
  })
  vi.stubGlobal('fetch', fetchMock)
  return calls
}

afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

const schedule: api.Schedule = {
  id: 7,
  name: 'Nightly',
  script_id: 3,
  script_name: 'report',
  cron: '0 2 * * *',
  timezone: 'Europe/Berlin',
  params: { limit: 10, token: '***' },
  enabled: true,
  overlap_policy: 'skip',
  misfire_grace_seconds: 60,
  version: null,
  notifications: [],
  last_run_at: null,
  last_status: null,
  next_run_at: '2026-11-25T02:00:00+01:00',
  created_at: '2026-11-20T10:00:00+00:00',
  updated_at: '2026-11-20T10:00:00+00:00',
}

describe('schedules API module', () => {
  it('uses the documented URLs and methods', async () => {
    const calls = stubFetch((call) =>
      call.method === 'DELETE' ? jsonResponse(204, null) : jsonResponse(call.url.includes('run-now') ? 202 : 200, { id: 7, items: [], total: 0 }),
    )
    await api.listSchedules({ q: 'night', enabled: false, page: 2, per_page: 20 })
    await api.getSchedule(7)
    const body = toScheduleInput(formFromSchedule(schedule), { limit: 10 })
    await api.createSchedule(body)
    await api.replaceSchedule(7, body)
    await api.patchSchedule(7, { enabled: false })
    await api.toggleSchedule(7)
    const run = await api.runScheduleNow(7)
    await api.listFires(7, { outcome: 'skipped', page: 1, per_page: 20 })
    await api.listFires(7, { outcome: '' })
    await api.deleteSchedule(7)
    expect(run.id).toBe(7)
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'GET /api/schedules?q=night&enabled=false&page=2&per_page=20',
      'GET /api/schedules/7',
      'POST /api/schedules',
      'PUT /api/schedules/7',
      'PATCH /api/schedules/7',
      'POST /api/schedules/7/toggle',
      'POST /api/schedules/7/run-now',
      'GET /api/schedules/7/fires?outcome=skipped&page=1&per_page=20',
      'GET /api/schedules/7/fires',
      'DELETE /api/schedules/7',
    ])
    expect(calls[2].body).toEqual({
      name: 'Nightly',
      script_id: 3,
      cron: '0 2 * * *',
      timezone: 'Europe/Berlin',
      params: { limit: 10 },
      enabled: true,
      overlap_policy: 'skip',
      misfire_grace_seconds: 60,
      version: null,
      notifications: [],
    })
    expect(calls[4].body).toEqual({ enabled: false })
  })

  it('previews with cron, timezone and count, and turns a 422 into a readable ProblemError', async () => {
    const calls = stubFetch((call) =>
      call.url.includes('bad')
        ? jsonResponse(422, { title: 'Invalid input', status: 422, detail: 'cron: minute 61 is out of range', field: 'cron' })
        : jsonResponse(200, { cron: '@daily', fields: '0 0 * * *', has_seconds: false, timezone: 'UTC', times: [] }),
    )
    const ok = await api.previewCron('@daily', 'Europe/Berlin', 3)
    expect(ok.fields).toBe('0 0 * * *')
    expect(calls[0].url).toBe('/api/schedules/preview?cron=%40daily&timezone=Europe%2FBerlin&count=3')
    await api.previewCron('* * * * *', null)
    expect(calls[1].url).toBe('/api/schedules/preview?cron=*+*+*+*+*&count=5')
    const error = await api.previewCron('bad', 'UTC').catch((e) => e)
    expect(error).toBeInstanceOf(ProblemError)
    expect(error.status).toBe(422)
    expect(error.field).toBe('cron')
    expect(error.detail).toBe('cron: minute 61 is out of range')
  })
})

describe('param overrides', () => {
  const defs: Parameters<typeof toParamForm>[0] = [
    { name: 'limit', type: 'integer', default: 5 },
    { name: 'ratio', type: 'number' },
    { name: 'dry', type: 'boolean', default: false },
    { name: 'mode', type: 'choice', choices: ['a', 'b'] },
    { name: 'extra', type: 'json' },
    { name: 'token', type: 'secret' },
    { name: 'note', type: 'string' },
    { name: 'upload', type: 'file' },
  ]

  it('round-trips stored values; an untouched stored secret is sent back as ***', () => {
    const form = toParamForm(defs, { limit: 10, dry: true, extra: { a: [1] }, token: '***', note: 'hi' })
    expect(form.values).toMatchObject({ limit: '10', ratio: '', dry: true, mode: null, extra: '{"a":[1]}', token: '', note: 'hi' })
    expect(form.values).not.toHaveProperty('upload')
    expect(form.storedSecrets).toEqual(['token'])
    const { params, errors } = fromParamForm(defs, form)
    expect(errors).toEqual({})
    expect(params).toEqual({ limit: 10, dry: true, extra: { a: [1] }, token: '***', note: 'hi' })
  })

  it('leaves empty fields out (script default) and converts by type', () => {
    const form = toParamForm(defs, {})
    Object.assign(form.values, { ratio: ' 2.5 ', mode: 'b', token: 's3cret', dry: false, extra: '"text"' })
    expect(fromParamForm(defs, form).params).toEqual({ ratio: 2.5, mode: 'b', token: 's3cret', dry: false, extra: 'text' })
  })

  it('reports bad values keyed like the server (params.<name>)', () => {
    const form = toParamForm(defs, {})
    Object.assign(form.values, { limit: '1.5', ratio: 'abc', extra: '{nope' })
    expect(fromParamForm(defs, form).errors).toEqual({
      'params.limit': 'Enter a whole number.',
      'params.ratio': 'Enter a number.',
      'params.extra': expect.stringContaining('JSON'),
    })
  })

  it('a forgotten secret is no longer sent', () => {
    const form = toParamForm(defs, { token: '***' })
    form.storedSecrets = []
    expect(fromParamForm(defs, form).params).toEqual({})
  })

  it('finds stored values the script no longer defines', () => {
    expect(staleParams(defs, { limit: 1, gone: 2 })).toEqual(['gone'])
  })
})

describe('schedule form', () => {
  it('validates the required fields before asking the server', () => {
    const state = emptyScheduleForm()
    state.cron = '  '
    state.misfire_grace_seconds = 0
    expect(Object.keys(validateScheduleForm(state)).sort()).toEqual(['cron', 'misfire_grace_seconds', 'name', 'script_id'])
    expect(validateScheduleForm({ ...formFromSchedule(schedule) })).toEqual({})
  })

  it('sends an empty timezone as null (server default) and tidies the cron', () => {
    const state = { ...emptyScheduleForm(3), name: ' A ', cron: ' */5  * * * * ', timezone: '' }
    expect(toScheduleInput(state, {})).toMatchObject({ name: 'A', cron: '*/5 * * * *', timezone: null, script_id: 3 })
  })
})

describe('CronInput', () => {
  it('shows the reading and applies a preset', async () => {
    const wrapper = mount(CronInput, { props: { modelValue: '0 9 * * 1-5' } })
    expect(wrapper.get('[data-test=cron-description]').text()).toBe('At 09:00, Monday through Friday')
    await wrapper.setProps({ modelValue: 'nonsense' })
    expect(wrapper.get('[data-test=cron-description]').text()).toBe(
      'expected 5 fields (minute hour day month weekday), or 6 with seconds first, got 1',
    )
    await wrapper.get('[data-test=cron-input] input').setValue('*/10 * * * * *')
    expect(wrapper.emitted('update:modelValue')?.at(-1)).toEqual(['*/10 * * * * *'])
  })
})

describe('CronPreview', () => {
  beforeEach(() => vi.useFakeTimers({ shouldAdvanceTime: false, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] }))

  it('debounces, shows the times in the zone, and shows the 422 reason', async () => {
    const calls = stubFetch((call) =>
      call.url.includes('cron=61')
        ? jsonResponse(422, { title: 'Invalid input', status: 422, detail: 'cron: 61 is not a minute', field: 'cron' })
        : jsonResponse(200, {
            cron: '0 9 * * *',
            fields: '0 9 * * *',
            has_seconds: false,
            timezone: 'America/New_York',
            times: ['2099-01-01T09:00:00-05:00', '2099-01-02T09:00:00-05:00'],
          }),
    )
    const wrapper = mount(CronPreview, { props: { cron: '0 9 * * *', timezone: 'America/New_York' } })
    await flushPromises()
    expect(calls).toHaveLength(1)
    const items = wrapper.findAll('[data-test=cron-preview] li')
    expect(items).toHaveLength(2)
    expect(items[0].text()).toContain('09:00')
    expect(items[0].text()).toContain('in ')

    await wrapper.setProps({ cron: '61 * * * *' })
    await wrapper.setProps({ cron: '61 9 * * *' })
    await wrapper.setProps({ cron: '61 9 * * 1' })
    expect(calls).toHaveLength(1)
    vi.advanceTimersByTime(300)
    await flushPromises()
    expect(calls).toHaveLength(2)
    expect(calls[1].url).toContain('cron=61+9+*+*+1')
    expect(wrapper.get('[data-test=cron-error]').text()).toBe('cron: 61 is not a minute')
    expect(wrapper.find('[data-test=cron-preview] li').exists()).toBe(false)
    expect(wrapper.emitted('result')?.at(-1)).toEqual([null, 'cron: 61 is not a minute'])
    wrapper.unmount()
  })

  it('asks nothing for an empty expression and says (server default) without a zone', async () => {
    const calls = stubFetch(() =>
      jsonResponse(200, { cron: '@daily', fields: '0 0 * * *', has_seconds: false, timezone: 'Europe/Paris', times: ['2099-01-01T00:00:00+01:00'] }),
    )
    const wrapper = mount(CronPreview, { props: { cron: '' } })
    await flushPromises()
    expect(calls).toHaveLength(0)
    expect(wrapper.text()).toContain('Enter an expression')
    await wrapper.setProps({ cron: '@daily' })
    vi.advanceTimersByTime(300)
    await flushPromises()
    await nextTick()
    expect(wrapper.text()).toContain('Europe/Paris')
    expect(wrapper.text()).toContain('(server default)')
    expect(wrapper.get('[data-test=cron-preview] li').text()).toContain('00:00')
    wrapper.unmount()
  })
})
