import { getCurrentScope, onScopeDispose, readonly, ref, type Ref } from 'vue'

/** The app's one breakpoint: phones and narrow windows (the stylesheets use the same width). */
export const NARROW_SCREEN = '(max-width: 760px)'

/**
 * Whether a media query matches, kept up to date (a window resized across the breakpoint) until
 * the calling component goes. False where the browser has no `matchMedia`.
 */
export function useMediaQuery(query: string): Readonly<Ref<boolean>> {
  const list = typeof window !== 'undefined' && window.matchMedia ? window.matchMedia(query) : null
  const matches = ref(list?.matches ?? false)
  if (list?.addEventListener) {
    const update = (event: MediaQueryListEvent) => (matches.value = event.matches)
    list.addEventListener('change', update)
    if (getCurrentScope()) onScopeDispose(() => list.removeEventListener('change', update))
  }
  return readonly(matches)
}
