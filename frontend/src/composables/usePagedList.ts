import { computed, ref, watch, type Ref } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import type { Page } from '@/api/http'
import { queryPositive, replaceQuery } from '@/utils/routeQuery'
import { useLoader, type LoadOptions } from './useLoader'

export interface Paging {
  page: number
  per_page: number
}

export interface PagedListOptions {
  /**
   * Keep the page and its size in the route query (`page`, `per_page`), so a reload, the back
   * button or a shared link shows the same rows. Then any change of the route's query (a filter
   * the page keeps there too) loads again, on the page the query names.
   */
  inUrl?: boolean
  /** The page sizes offered (a `per_page` in the URL that is not one of them is ignored). */
  sizes?: number[]
}

/**
 * A list the API serves in pages (`{items, total}`): the rows, the page and its size (bind them
 * to `ListPager`), and the loader's state. A new page loads by itself; a new page size, or
 * `firstPage()` after a filter changed, goes back to page 1 and loads once.
 */
export function usePagedList<T>(
  fetchPage: (paging: Paging) => Promise<Page<T>>,
  perPage = 50,
  options: PagedListOptions = {},
) {
  const items = ref([]) as Ref<T[]>
  const total = ref(0)
  const loader = useLoader()
  const { page, size } = options.inUrl ? urlPaging(perPage, options.sizes, () => void load()) : localPaging(perPage)

  function load(loadOptions: LoadOptions = {}): Promise<boolean> {
    return loader.run(
      () => fetchPage({ page: page.value, per_page: size.value }),
      (result) => {
        items.value = result.items
        total.value = result.total
        // a page past the end (rows deleted meanwhile, an old link): show the last one instead
        if (!result.items.length && result.total > 0 && page.value > 1) page.value = Math.ceil(result.total / size.value)
      },
      loadOptions,
    )
  }

  function firstPage(): void {
    if (page.value === 1) void load()
    else page.value = 1
  }

  if (!options.inUrl) {
    watch(page, () => void load())
    watch(size, firstPage)
  }

  return { ...loader, items, total, page, perPage: size, load, firstPage }
}

function localPaging(perPage: number): { page: Ref<number>; size: Ref<number> } {
  return { page: ref(1), size: ref(perPage) }
}

/** Page and size read from, and written to, the route query; a query change calls `changed`. */
function urlPaging(perPage: number, sizes: number[] | undefined, changed: () => void): { page: Ref<number>; size: Ref<number> } {
  const route = useRoute()
  const router = useRouter()
  const path = route.path
  const page = computed({
    get: () => queryPositive(route.query.page) ?? 1,
    set: (value: number) => void replaceQuery(router, { page: value > 1 ? value : null }),
  })
  const size = computed({
    get: () => {
      const value = queryPositive(route.query.per_page)
      return value !== null && (!sizes || sizes.includes(value)) ? value : perPage
    },
    // a new size starts again on page 1 (replaceQuery drops `page`)
    set: (value: number) => void replaceQuery(router, { per_page: value === perPage ? null : value }),
  })
  // Leaving the page changes the query too: only this page's own queries load.
  watch(
    () => route.query,
    () => {
      if (route.path === path) changed()
    },
  )
  return { page, size }
}
