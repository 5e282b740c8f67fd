import { afterEach, describe, expect, it } from 'vitest'
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import { nextTick, ref } from 'vue'
import { toDraft, type ParamDraft } from '@/utils/params'
import ParameterDesigner from '@/components/ParameterDesigner.vue'
import DependencyList from '@/components/DependencyList.vue'
import CodeEditor from '@/components/CodeEditor.vue'

let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})

function mountDesigner(initial: ParamDraft[], errors: Record<string, string> = {}) {
  const model = ref(initial)
  wrapper = mount(ParameterDesigner, {
    props: {
      modelValue: model.value,
      errors,
      'onUpdate:modelValue': (value: ParamDraft[]) => {
        model.value = value
        void wrapper!.setProps({ modelValue: value })
      },
    },
    attachTo: document.body,
  })
  return model
}

describe('ParameterDesigner', () => {
  it('adds a row with the hooks the browser test uses, and removes it', async () => {
    const model = mountDesigner([])
    expect(wrapper!.text()).toContain('No parameters')
    await wrapper!.get('[data-test="add-parameter"]').trigger('click')
    await flushPromises()
    expect(model.value).toHaveLength(1)
    for (const hook of ['param-name', 'param-type', 'param-default', 'param-required']) {
      expect(wrapper!.find(`[data-test="${hook}"]`).exists()).toBe(true)
    }
    expect(wrapper!.find('[data-test="param-name"] input').exists()).toBe(true)
    expect(wrapper!.find('[data-test="param-default"] input').exists()).toBe(true)
    await wrapper!.get('[data-test="param-name"] input').setValue('WHO')
    expect(model.value[0].name).toBe('WHO')
    await wrapper!.get('[data-test="remove-parameter"]').trigger('click')
    expect(model.value).toHaveLength(0)
  })

  it('moves rows up and down', async () => {
    const model = mountDesigner([
      toDraft({ name: 'A', type: 'string', description: '', default: null, required: false, choices: null }),
      toDraft({ name: 'B', type: 'string', description: '', default: null, required: false, choices: null }),
    ])
    await wrapper!.findAll('[aria-label="Move down"]')[0].trigger('click')
    expect(model.value.map((d) => d.name)).toEqual(['B', 'A'])
  })

  it('shows a type-specific default input', async () => {
    mountDesigner([
      toDraft({ name: 'N', type: 'integer', description: '', default: 2, required: false, choices: null }),
      toDraft({ name: 'S', type: 'secret', description: '', default: '***', required: false, choices: null }),
      toDraft({ name: 'J', type: 'json', description: '', default: { a: 1 }, required: false, choices: null }),
      toDraft({ name: 'F', type: 'file', description: '', default: null, required: false, choices: null }),
    ])
    const defaults = wrapper!.findAll('[data-test="param-default"]')
    expect(defaults[0].find('.el-input-number').exists()).toBe(true)
    expect(defaults[1].find('input').attributes('type')).toBe('password')
    expect((defaults[2].find('textarea').element as HTMLTextAreaElement).value).toContain('"a": 1')
    expect(defaults[3].find('input').attributes('disabled')).toBeDefined()
  })

  it('shows server errors next to the field of the row they name', async () => {
    mountDesigner(
      [
        toDraft({ name: 'ok', type: 'string', description: '', default: null, required: false, choices: null }),
        toDraft({ name: '9x', type: 'string', description: '', default: null, required: false, choices: null }),
      ],
      { 'parameters.1.name': 'Bad name', 'parameters.1': 'Row problem' },
    )
    await new Promise((resolve) => setTimeout(resolve, 150)) // el-form-item shows errors debounced
    await flushPromises()
    const rows = wrapper!.findAll('.param-row')
    expect(rows[0].find('.is-error').exists()).toBe(false)
    expect(rows[1].find('.is-error').text()).toContain('Bad name')
    expect(rows[1].text()).toContain('Row problem')
  })
})

describe('DependencyList', () => {
  it('adds pasted lines, refuses bad specs, removes', async () => {
    const model = ref<string[]>(['requests>=2'])
    wrapper = mount(DependencyList, {
      props: {
        modelValue: model.value,
        language: 'python',
        'onUpdate:modelValue': (value: string[]) => {
          model.value = value
          void wrapper!.setProps({ modelValue: value })
        },
      },
    })
    await wrapper.get('[data-test="dependency-input"] textarea').setValue('pandas==2.2.*\nhttpx')
    await wrapper.get('[data-test="add-dependency"]').trigger('click')
    expect(model.value).toEqual(['requests>=2', 'pandas==2.2.*', 'httpx'])
    await wrapper.get('[data-test="dependency-input"] textarea').setValue('--index-url http://evil')
    await wrapper.get('[data-test="add-dependency"]').trigger('click')
    expect(model.value).toHaveLength(3)
    expect(wrapper.text()).toContain('not allowed')
    await wrapper.findAll('[data-test="remove-dependency"]')[0].trigger('click')
    expect(model.value).toEqual(['pandas==2.2.*', 'httpx'])
  })

  it('tells shell users there is no dependency manager', () => {
    wrapper = mount(DependencyList, { props: { modelValue: [], language: 'shell' } })
    expect(wrapper.text()).toContain('cannot declare dependencies')
    expect(wrapper.find('[data-test="add-dependency"]').exists()).toBe(false)
  })
})

describe('CodeEditor', () => {
  it('is a v-model string, follows outside changes, and saves on Ctrl/Cmd-S', async () => {
    wrapper = mount(CodeEditor, { props: { modelValue: 'print(1)\n', language: 'python' }, attachTo: document.body })
    await nextTick()
    const content = wrapper.get('.cm-content')
    expect(content.text()).toContain('print(1)')
    await wrapper.setProps({ modelValue: 'echo hi\n', language: 'shell' })
    expect(wrapper.get('.cm-content').text()).toContain('echo hi')
    const event = new KeyboardEvent('keydown', { key: 's', ctrlKey: true, bubbles: true, cancelable: true })
    content.element.dispatchEvent(event)
    expect(wrapper.emitted('save')).toHaveLength(1)
    expect(event.defaultPrevented).toBe(true)
  })

  it('switches to the dark theme when <html> gets the dark class', async () => {
    wrapper = mount(CodeEditor, { props: { modelValue: 'x = 1\n' }, attachTo: document.body })
    await nextTick()
    const before = wrapper.get('.cm-editor').classes().join(' ')
    document.documentElement.classList.add('dark')
    await new Promise((resolve) => setTimeout(resolve, 0))
    await nextTick()
    const after = wrapper.get('.cm-editor').classes().join(' ')
    document.documentElement.classList.remove('dark')
    expect(after).not.toBe(before)
  })
})
