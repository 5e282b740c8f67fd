import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { createMemoryHistory, createRouter } from 'vue-router'
import { defineComponent, ref } from 'vue'
import { ProblemError } from '@/api/http'
import type { Script } from '@/api/scripts'
import ScriptSettings from '@/components/script/ScriptSettings.vue'
import {
  emptyForm,
  formFromScript,
  formToInput,
  problemToErrors,
  runAsProblem,
  runAsToInput,
  SETTINGS_FIELDS,
  snapshot,
} from '@/components/script/scriptForm'
import { useScriptEditor } from '@/components/script/useScriptEditor'
import { useAuthStore } from '@/stores/auth'

vi.mock('element-plus', async (original) => ({
  ...(await original<typeof import('element-plus')>()),
  ElMessage: { success: vi.fn(), error: vi.fn() },
}))

function script(partial: Partial<Script> = {}): Script {
  return {
    id: 7, name: 's', language: 'python', description: '', code: 'print(1)\n', dependencies: [], parameters: [], tags: [],
    folder: '', timeout_seconds: null, max_concurrent: null, concurrency_policy: 'queue', max_retries: 0,
    retry_delay_seconds: 0, enabled: true, sandbox_network: true, run_as_user: null, version: 1, revision: 1,
    limits: { memory_mb: null, cpu_seconds: null, file_size_mb: null, open_files: null, processes: null },
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', last_run: null,
    notifications: [], on_success: [], on_failure: [], variables: [],
    ...partial,
  }
}

describe('run-as user in the form', () => {
  it('is empty for the server default and sent as null', () => {
    expect(emptyForm().run_as_user).toBe('')
    expect(formFromScript(script()).run_as_user).toBe('')
    const { input, errors } = formToInput({ ...emptyForm(), name: 'a' }, { canSetRunAs: true })
    expect(errors).toEqual({})
    expect(input.run_as_user).toBeNull()
    expect(formToInput({ ...emptyForm(), name: 'a', run_as_user: '   ' }, { canSetRunAs: true }).input.run_as_user).toBeNull()
    expect(runAsToInput(undefined)).toBeNull()
  })

  it('round-trips a set account (trimmed), with nothing unsaved after load', () => {
    const s = script({ run_as_user: 'scriptrun' })
    const form = formFromScript(s)
    expect(form.run_as_user).toBe('scriptrun')
    expect(snapshot(formFromScript(s))).toBe(snapshot(form))
    expect(formToInput(form, { canSetRunAs: true }).input.run_as_user).toBe('scriptrun')
    form.run_as_user = ' batch$ '
    expect(snapshot(form)).not.toBe(snapshot(formFromScript(s)))
    expect(formToInput(form, { canSetRunAs: true }).input.run_as_user).toBe('batch$')
  })

  it('is left out of the body unless the user may set it (so a PUT keeps the admin’s choice)', () => {
    const form = formFromScript(script({ run_as_user: 'scriptrun' }))
    form.run_as_user = 'root'
    const { input, errors } = formToInput(form)
    expect('run_as_user' in input).toBe(false)
    expect(errors).toEqual({})
    expect('run_as_user' in formToInput(form, { canSetRunAs: false }).input).toBe(false)
  })

  it('checks the account name like the server does', () => {
    expect(runAsProblem('')).toBeNull()
    expect(runAsProblem('www-data')).toBeNull()
    expect(runAsProblem('_svc')).toBeNull()
    expect(runAsProblem('machine$')).toBeNull()
    expect(runAsProblem('Root')).toMatch(/lowercase/)
    expect(runAsProblem('1user')).toMatch(/lowercase/)
    expect(runAsProblem('a b')).toMatch(/lowercase/)
    expect(runAsProblem('a'.repeat(33))).toMatch(/32/)
    const { errors } = formToInput({ ...emptyForm(), name: 'a', run_as_user: 'Bad Name' }, { canSetRunAs: true })
    expect(errors.run_as_user).toBeTruthy()
  })

  it('maps the server’s run_as_user problems to the field, inside the run settings', () => {
    const forbidden = new ProblemError({
      title: 'Forbidden', status: 403, detail: 'Only an administrator may choose the account a script runs as.', field: 'run_as_user',
    })
    expect(problemToErrors(forbidden)).toEqual({ run_as_user: 'Only an administrator may choose the account a script runs as.' })
    const missing = new ProblemError({ title: 'Unprocessable', status: 422, detail: "There is no account 'nobody2' on the server's machine.", field: 'run_as_user' })
    expect(problemToErrors(missing)).toEqual({ run_as_user: "There is no account 'nobody2' on the server's machine." })
    expect(SETTINGS_FIELDS.test('run_as_user')).toBe(true)
  })
})

describe('ScriptSettings run-as field', () => {
  let wrapper: VueWrapper | null = null
  afterEach(() => {
    wrapper?.unmount()
    wrapper = null
    document.body.innerHTML = ''
    vi.unstubAllGlobals()
  })

  function mountSettings(props: { canSetRunAs?: boolean; readonly?: boolean; errors?: Record<string, string> }, value = '') {
    const form = ref({ ...emptyForm(), run_as_user: value })
    // the notification, chain and variable pickers under the run settings load their lists
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ items: [], total: 0 }), { headers: { 'Content-Type': 'application/json' } })))
    wrapper = mount(ScriptSettings, {
      props: { form: form.value, errors: {}, ...props },
      global: { plugins: [createPinia()] },
      attachTo: document.body,
    })
    return form
  }

  it('is editable by an admin, with the server default as placeholder', async () => {
    const form = mountSettings({ canSetRunAs: true })
    const input = wrapper!.get('input[data-test=script-run-as]')
    expect(input.attributes('placeholder')).toMatch(/server's default/)
    expect(input.attributes('disabled')).toBeUndefined()
    expect(wrapper!.find('[data-test=run-as-hint]').exists()).toBe(false)
    await input.setValue('scriptrun')
    expect(form.value.run_as_user).toBe('scriptrun')
  })

  it('is read-only for others, with a hint who sets it', () => {
    mountSettings({ canSetRunAs: false }, 'scriptrun')
    const input = wrapper!.get('input[data-test=script-run-as]')
    expect(input.attributes('disabled')).toBeDefined()
    expect((input.element as HTMLInputElement).value).toBe('scriptrun')
    expect(wrapper!.get('[data-test=run-as-hint]').text()).toMatch(/Set by an administrator/)
  })

  it('is read-only in a read-only form even for an admin', () => {
    mountSettings({ canSetRunAs: true, readonly: true })
    expect(wrapper!.get('input[data-test=script-run-as]').attributes('disabled')).toBeDefined()
  })

  it('shows a run_as_user error under the field', async () => {
    mountSettings({ canSetRunAs: true, errors: { run_as_user: "There is no account 'x' on the server's machine." } })
    const item = wrapper!.get('input[data-test=script-run-as]').element.closest('.el-form-item')!
    expect(item.classList.contains('is-error')).toBe(true)
    // Element Plus shows the message after a short debounce
    await vi.waitFor(() => expect(item.querySelector('.el-form-item__error')?.textContent).toContain("There is no account 'x'"))
  })
})

describe('saving from the editor', () => {
  type Sent = { method: string; url: string; body: Record<string, unknown> }
  let sent: Sent[] = []
  let wrapper: VueWrapper | null = null

  beforeEach(() => {
    sent = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) => {
        const method = init.method || 'GET'
        const body = init.body ? JSON.parse(String(init.body)) : {}
        sent.push({ method, url, body })
        const current = script({ run_as_user: 'scriptrun' })
        const answer = method === 'GET' ? current : { ...current, ...body, revision: 2 }
        return new Response(JSON.stringify(answer), { headers: { 'Content-Type': 'application/json' } })
      }),
    )
  })
  afterEach(() => {
    wrapper?.unmount()
    wrapper = null
    vi.unstubAllGlobals()
  })

  async function editAs(role: 'editor' | 'admin') {
    setActivePinia(createPinia())
    useAuthStore().user = { id: 1, username: 'u', full_name: '', role, active: true, created_at: '', last_login_at: null }
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/:p(.*)*', component: { template: '<div />' } }] })
    await router.push('/scripts/7')
    let editor!: ReturnType<typeof useScriptEditor>
    const Host = defineComponent({
      setup() {
        editor = useScriptEditor(ref('7'))
        return () => null
      },
    })
    wrapper = mount(Host, { global: { plugins: [router] } })
    await editor.load()
    return editor
  }

  it('an editor’s save leaves run_as_user out, so the admin’s choice stays', async () => {
    const editor = await editAs('editor')
    expect(editor.canSetRunAs.value).toBe(false)
    expect(editor.form.value.run_as_user).toBe('scriptrun')
    editor.form.value.description = 'changed'
    expect(await editor.save()).toBe(true)
    await flushPromises()
    const put = sent.find((s) => s.method === 'PUT')!
    expect(put.url).toBe('/api/scripts/7')
    expect(put.body.description).toBe('changed')
    expect('run_as_user' in put.body).toBe(false)
  })

  it('an admin’s save sends it, null for the default', async () => {
    const editor = await editAs('admin')
    expect(editor.canSetRunAs.value).toBe(true)
    editor.form.value.run_as_user = ''
    expect(await editor.save()).toBe(true)
    expect(sent.find((s) => s.method === 'PUT')!.body.run_as_user).toBeNull()
  })
})
