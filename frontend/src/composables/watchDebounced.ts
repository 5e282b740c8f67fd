import { getCurrentScope, onScopeDispose, watch, type WatchSource } from 'vue'

/** How long typing must pause before a search box's text is used. */
export const TYPING_PAUSE_MS = 300

/**
 * Like `watch`, but calls back only once the source has stopped changing for `ms` (a search box
 * while someone types). A call still pending when the component goes is dropped.
 */
export function watchDebounced<T>(source: WatchSource<T>, callback: (value: T) => void, ms = TYPING_PAUSE_MS): void {
  let timer: ReturnType<typeof setTimeout> | undefined
  watch(source, (value) => {
    clearTimeout(timer)
    timer = setTimeout(() => callback(value), ms)
  })
  if (getCurrentScope()) onScopeDispose(() => clearTimeout(timer))
}
