import { ref } from 'vue'
import { errorMessage } from '@/api/http'

export interface LoadOptions {
  /** No spinner: a background refresh of what is already shown. */
  quiet?: boolean
}

/**
 * A page's load / loading / error: `run(fetch, apply)` shows the spinner, hands the answer to
 * `apply` only when no newer run started meanwhile (a slow answer never overwrites a fresh one),
 * and turns a failure into `error`, one sentence. `loaded`: the first run has ended.
 */
export function useLoader() {
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref('')
  let latest = 0

  /** True when the answer was applied. */
  async function run<T>(fetch: () => Promise<T>, apply: (value: T) => void, options: LoadOptions = {}): Promise<boolean> {
    const mine = ++latest
    if (!options.quiet) loading.value = true
    try {
      const value = await fetch()
      if (mine !== latest) return false
      apply(value)
      error.value = ''
      return true
    } catch (e) {
      if (mine === latest) error.value = errorMessage(e)
      return false
    } finally {
      if (mine === latest) {
        loading.value = false
        loaded.value = true
      }
    }
  }

  /** Drops the answers of runs still in flight (the page is going, say). */
  function cancel(): void {
    latest += 1
    loading.value = false
  }

  return { loading, loaded, error, run, cancel }
}
