import { onBeforeUnmount, onMounted } from 'vue'
import { onBeforeRouteLeave } from 'vue-router'
import { confirmAction } from '@/utils/feedback'

/** The one "discard your changes?" question; true when the user agrees to leave. */
export function askToDiscard(): Promise<boolean> {
  return confirmAction('You have unsaved changes. Leave and discard them?', 'Unsaved changes', {
    confirm: 'Discard changes',
    cancel: 'Stay',
  })
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
