import { ref, watchEffect } from 'vue'

const STORAGE_KEY = 'scriptman.theme'
const prefersDark = typeof window !== 'undefined' && window.matchMedia?.('(prefers-color-scheme: dark)').matches
const dark = ref<boolean>(
  (typeof localStorage !== 'undefined' && localStorage.getItem(STORAGE_KEY)) === 'dark' ||
    ((typeof localStorage === 'undefined' || !localStorage.getItem(STORAGE_KEY)) && !!prefersDark),
)

/** Dark mode: Element Plus' `html.dark` variables, remembered per browser. */
export function useTheme() {
  watchEffect(() => {
    document.documentElement.classList.toggle('dark', dark.value)
    localStorage.setItem(STORAGE_KEY, dark.value ? 'dark' : 'light')
  })
  return { dark, toggle: () => (dark.value = !dark.value) }
}
