import { onBeforeUnmount, onMounted } from 'vue'
import { onBeforeRouteLeave } from 'vue-router'
import { ElMessageBox } from 'element-plus'

/** The one "discard your changes?" question; true when the user agrees to leave. */
export async function askToDiscard(): Promise<boolean> {
  try {
    await ElMessageBox.confirm('You have unsaved changes. Leave and discard them?', 'Unsaved changes', {
      type: 'warning',
      confirmButtonText: 'Discard changes',
      cancelButtonText: 'Stay',
    })
    return true
  } catch {
    return false
  }
}

/**
 * Asks before an edit is lost: leaving the route (in-app navigation) or the page (reload, close tab).
 * `allowLeave()` lets a deliberate navigation through (after delete, say).
 */
export function useUnsavedGuard(isDirty: () => boolean) {
  let bypass = false

  async function confirmDiscard(): Promise<boolean> {
    return bypass || !isDirty() || askToDiscard()
  }

  function onBeforeUnload(event: BeforeUnloadEvent): void {
    if (bypass || !isDirty()) return
    event.preventDefault()
    event.returnValue = ''
  }

  onBeforeRouteLeave(() => confirmDiscard())
  onMounted(() => window.addEventListener('beforeunload', onBeforeUnload))
  onBeforeUnmount(() => window.removeEventListener('beforeunload', onBeforeUnload))

  return { confirmDiscard, allowLeave: () => (bypass = true) }
}
