/**
 * State and actions of the script editor page: load, save with the stale-edit guard (version +
 * If-Match revision), the 409 "changed elsewhere" choice (with the diff of theirs and mine),
 * templates for a new script, duplicate, delete, and the unsaved-changes guard.
 */
import { computed, nextTick, ref, type Ref } from 'vue'
import { useRouter } from 'vue-router'
import { ElMessage } from 'element-plus'
import { errorMessage, ProblemError } from '@/api/http'
import {
  createScript,
  deleteScript,
  duplicateScript,
  getScript,
  replaceScript,
  type Language,
  type Script,
} from '@/api/scripts'
import { useAuthStore } from '@/stores/auth'
import { askToDiscard } from '@/composables/useUnsavedGuard'
import { confirmAction, reportAction } from '@/utils/feedback'
import { toDraft, type FieldErrors } from '@/utils/params'
import {
  emptyForm,
  formFromScript,
  formToInput,
  problemToErrors,
  SETTINGS_FIELDS,
  snapshot,
  type ScriptForm,
} from './scriptForm'
import { findTemplate, type TemplateKind } from './templates'

/** A refused save (409) waiting for the user's choice; `theirs` is the server's script now. */
export interface Conflict {
  detail: string
  theirs: Script | null
  loadError: string
}

export function useScriptEditor(id: Ref<string | undefined>) {
  const auth = useAuthStore()
  const router = useRouter()
  const script = ref<Script | null>(null)
  const form = ref<ScriptForm>(emptyForm())
  const baseline = ref(snapshot(form.value))
  const loading = ref(false)
  const saving = ref(false)
  const loadError = ref('')
  const errors = ref<FieldErrors>({})
  const note = ref('')
  const settingsOpen = ref(false)
  const conflict = ref<Conflict | null>(null)
  /** The template a new script started from (its code is swapped when the language changes). */
  const template = ref<TemplateKind>('hello')
  let bypassGuard = false
  let conflictSeq = 0

  const isNew = computed(() => !id.value)
  const readonly = computed(() => !auth.canEdit)
  /** Only an admin picks the account a script runs as; others neither change nor send it. */
  const canSetRunAs = computed(() => auth.isAdmin)
  const dirty = computed(() => !readonly.value && snapshot(form.value) !== baseline.value)

  function accept(saved: Script): void {
    script.value = saved
    form.value = formFromScript(saved)
    baseline.value = snapshot(form.value)
  }

  async function load(): Promise<void> {
    errors.value = {}
    loadError.value = ''
    if (!id.value) {
      script.value = null
      form.value = emptyForm()
      template.value = 'hello'
      baseline.value = snapshot(form.value)
      return
    }
    loading.value = true
    try {
      accept(await getScript(id.value))
    } catch (error) {
      loadError.value = errorMessage(error)
    } finally {
      loading.value = false
    }
  }

  async function reveal(found: FieldErrors): Promise<void> {
    if (Object.keys(found).some((key) => SETTINGS_FIELDS.test(key))) settingsOpen.value = true
    await nextTick()
    document.querySelector('.script-editor .is-error, .script-editor .field-error')?.scrollIntoView?.({ block: 'center' })
  }

  /** Opens the "changed elsewhere" dialog with the server's current script to compare with. */
  async function onConflict(error: ProblemError): Promise<void> {
    const seq = ++conflictSeq
    conflict.value = { detail: error.detail, theirs: null, loadError: '' }
    try {
      const theirs = await getScript(script.value!.id)
      if (seq === conflictSeq && conflict.value) conflict.value.theirs = theirs
    } catch (e) {
      if (seq === conflictSeq && conflict.value) conflict.value.loadError = errorMessage(e)
    }
  }

  /** The user's answer to the conflict: take theirs, save mine over it, or keep editing. */
  async function resolveConflict(choice: 'reload' | 'overwrite' | 'keep'): Promise<void> {
    if (choice === 'keep') {
      conflictSeq += 1
      conflict.value = null
      return
    }
    if (choice === 'reload') {
      conflictSeq += 1
      conflict.value = null
      await load()
      return
    }
    const seq = conflictSeq
    await save({ force: true })
    if (seq === conflictSeq) conflict.value = null // saved, or failed for another reason (shown)
  }

  async function save(options: { force?: boolean } = {}): Promise<boolean> {
    if (readonly.value || saving.value) return false
    const { input, errors: found } = formToInput(form.value, { canSetRunAs: canSetRunAs.value })
    errors.value = found
    if (Object.keys(found).length) {
      ElMessage.error('Not saved: fix the highlighted fields first.')
      await reveal(found)
      return false
    }
    const sent = snapshot(form.value)
    const before = script.value
    saving.value = true
    try {
      const saved = before
        ? await replaceScript(before.id, input, {
            version: options.force ? undefined : before.version,
            revision: options.force ? undefined : before.revision,
            message: note.value.trim(),
          })
        : await createScript(input)
      if (snapshot(form.value) === sent) accept(saved)
      else {
        script.value = saved // edited while saving: keep those edits, still unsaved
        baseline.value = snapshot(formFromScript(saved))
      }
      note.value = ''
      if (!before) ElMessage.success(`Created “${saved.name}” (v1)`)
      else ElMessage.success(saved.version !== before.version ? `Saved as v${saved.version}` : 'Saved')
      if (!before) {
        bypassGuard = true
        await router.replace(`/scripts/${saved.id}`)
        bypassGuard = false
      }
      return true
    } catch (error) {
      if (error instanceof ProblemError && error.status === 409 && ['version', 'If-Match'].includes(error.field || '')) {
        saving.value = false // the dialog may save again ("overwrite with mine")
        await onConflict(error)
        return false
      }
      const fieldErrors = problemToErrors(error)
      if (fieldErrors) {
        errors.value = { ...errors.value, ...fieldErrors }
        void reveal(fieldErrors)
        const [field, message] = Object.entries(fieldErrors)[0]
        ElMessage.error(`Not saved: ${field}: ${message}`)
      } else {
        ElMessage.error(`Not saved: ${errorMessage(error)}`)
      }
      return false
    } finally {
      saving.value = false
    }
  }

  async function remove(): Promise<void> {
    const current = script.value
    if (!current) return
    const message = `Delete “${current.name}” with all its versions, runs, logs and files? This cannot be undone.`
    if (!(await confirmAction(message, 'Delete script', { confirm: 'Delete', danger: true }))) return
    if (!(await reportAction(() => deleteScript(current.id), `Deleted “${current.name}”`))) return
    bypassGuard = true
    await router.push('/scripts')
  }

  /** The new script's code is still the template's (or empty): switching templates loses nothing. */
  function untouched(): boolean {
    const code = form.value.code
    return !code.trim() || code === findTemplate(template.value, form.value.language).code
  }

  /**
   * Starts the new script from a template: language (the current one when the template has it),
   * code, parameters; name and description when still empty. Edited code is replaced only after
   * the user agrees.
   */
  async function applyTemplate(kind: TemplateKind): Promise<void> {
    if (script.value) return
    if (!untouched() && !(await confirmAction('Replace the code and parameters with the template?', 'Use template', { confirm: 'Replace' }))) {
      return
    }
    const chosen = findTemplate(kind, form.value.language)
    const previous = findTemplate(template.value, form.value.language)
    template.value = kind
    form.value.language = chosen.language
    form.value.code = chosen.code
    form.value.parameters = chosen.parameters.map(toDraft)
    if (!form.value.name.trim() || form.value.name === previous.name) form.value.name = chosen.name
    if (!form.value.description.trim() || form.value.description === previous.description) {
      form.value.description = chosen.description
    }
  }

  function setLanguage(language: Language): void {
    if (!script.value && untouched()) {
      const chosen = findTemplate(template.value, language)
      if (chosen.language === language) form.value.code = chosen.code
      else {
        template.value = 'hello' // this template has no version in that language
        form.value.code = findTemplate('hello', language).code
      }
    }
    form.value.language = language
  }

  /**
   * A copy of the saved script as a new one, then opens it. Unsaved edits are not in the copy:
   * the user is told so first.
   */
  async function duplicate(): Promise<void> {
    const current = script.value
    if (!current) return
    if (dirty.value) {
      const message = `The copy is made from the saved version v${current.version}; your unsaved changes here are not in it. Duplicate anyway?`
      if (!(await confirmAction(message, 'Duplicate', { confirm: 'Duplicate' }))) return
    }
    try {
      const copy = await duplicateScript(current.id)
      ElMessage.success(`Created “${copy.name}”`)
      bypassGuard = true
      await router.push(`/scripts/${copy.id}`)
    } catch (error) {
      ElMessage.error(`Not duplicated: ${errorMessage(error)}`)
    } finally {
      bypassGuard = false
    }
  }

  /** For the route guards: true when leaving is fine (nothing unsaved, or the user said discard). */
  async function confirmDiscard(): Promise<boolean> {
    return bypassGuard || !dirty.value || askToDiscard()
  }

  return {
    script, form, loading, saving, loadError, errors, note, settingsOpen, isNew, readonly, canSetRunAs, dirty,
    conflict, template,
    load, save, remove, setLanguage, applyTemplate, duplicate, resolveConflict, confirmDiscard,
  }
}
