import { ref, watch, type Ref } from 'vue'
import type { Page } from '@/api/http'
import { useLoader, type LoadOptions } from './useLoader'

export interface Paging {
  page: number
  per_page: number
}

/**
 * A list the API serves in pages (`{items, total}`): the rows, the page and its size (bind them
 * to `ListPager`), and the loader's state. A new page loads by itself; a new page size, or
 * `firstPage()` after a filter changed, goes back to page 1 and loads once.
 */
export function usePagedList<T>(fetchPage: (paging: Paging) => Promise<Page<T>>, perPage = 50) {
  const items = ref([]) as Ref<T[]>
  const total = ref(0)
  const page = ref(1)
  const size = ref(perPage)
  const loader = useLoader()

  function load(options: LoadOptions = {}): Promise<boolean> {
    return loader.run(
      () => fetchPage({ page: page.value, per_page: size.value }),
      (result) => {
        items.value = result.items
        total.value = result.total
      },
      options,
    )
  }

  function firstPage(): void {
    if (page.value === 1) void load()
    else page.value = 1
  }

  watch(page, () => void load())
  watch(size, firstPage)

  return { ...loader, items, total, page, perPage: size, load, firstPage }
}
