/**
 * State and actions of the script editor page: load, save with the stale-edit guard (version +
 * If-Match revision), the 409 "changed elsewhere" choice, delete, and the unsaved-changes guard.
 */
import { computed, nextTick, ref, type Ref } from 'vue'
import { useRouter } from 'vue-router'
import { ElMessage, ElMessageBox } from 'element-plus'
import { errorMessage, ProblemError } from '@/api/http'
import { createScript, deleteScript, getScript, replaceScript, type Language, type Script } from '@/api/scripts'
import { useAuthStore } from '@/stores/auth'
import { askToDiscard } from '@/composables/useUnsavedGuard'
import { confirmAction, reportAction } from '@/utils/feedback'
import type { FieldErrors } from '@/utils/params'
import {
  emptyForm,
  formFromScript,
  formToInput,
  problemToErrors,
  SETTINGS_FIELDS,
  snapshot,
  TEMPLATES,
  type ScriptForm,
} from './scriptForm'

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
  let bypassGuard = false

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

  async function onConflict(error: ProblemError): Promise<void> {
    try {
      await ElMessageBox.confirm(
        `${error.detail} Reload to get the latest version (your edits here are discarded), or overwrite it with yours.`,
        'Changed elsewhere',
        {
          type: 'warning',
          confirmButtonText: 'Reload',
          cancelButtonText: 'Overwrite with mine',
          distinguishCancelAndClose: true,
        },
      )
      await load()
    } catch (action) {
      if (action === 'cancel') await save({ force: true })
    }
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

  function setLanguage(language: Language): void {
    const old = form.value.language
    const untouched = !form.value.code.trim() || form.value.code === TEMPLATES[old]
    if (!script.value && untouched) form.value.code = TEMPLATES[language]
    form.value.language = language
  }

  /** For the route guards: true when leaving is fine (nothing unsaved, or the user said discard). */
  async function confirmDiscard(): Promise<boolean> {
    return bypassGuard || !dirty.value || askToDiscard()
  }

  return {
    script, form, loading, saving, loadError, errors, note, settingsOpen, isNew, readonly, canSetRunAs, dirty,
    load, save, remove, setLanguage, confirmDiscard,
  }
}
