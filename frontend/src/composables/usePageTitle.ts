import { watchEffect } from 'vue'

export const APP_NAME = 'Scriptman'

/** "part · part · Scriptman", skipping empty parts. */
export function pageTitle(...parts: (string | null | undefined)[]): string {
  return [...parts.filter((p): p is string => !!p), APP_NAME].join(' · ')
}

/**
 * The browser tab names the page and what it shows ("Run #12 · nightly-report · Scriptman"), so a
 * user with many tabs finds the right one. The router sets the page's name; a page that shows one
 * thing calls this with a getter and the title follows it.
 */
export function usePageTitle(parts: () => (string | null | undefined)[]): void {
  watchEffect(() => {
    document.title = pageTitle(...parts())
  })
}
