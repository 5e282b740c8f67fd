import { ref, watch, type Ref } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import { queryText, replaceQuery } from '@/utils/routeQuery'
import { watchDebounced } from './watchDebounced'

/**
 * A search box whose text lives in the route query under `key`: what is typed reaches the URL
 * once typing pauses (a changed filter starts again on page 1); a new URL (the back button, a
 * link, a click that sets the filter) refills the box. Bind the returned ref with v-model.
 */
export function useQueryText(key: string): Ref<string> {
  const route = useRoute()
  const router = useRouter()
  const path = route.path
  const fromUrl = () => queryText(route.query[key]).trim()
  const text = ref(fromUrl())
  watch(fromUrl, (value) => {
    if (route.path === path && value !== text.value.trim()) text.value = value
  })
  watchDebounced(text, (value) => {
    if (route.path === path && value.trim() !== fromUrl()) void replaceQuery(router, { [key]: value.trim() || null })
  })
  return text
}
