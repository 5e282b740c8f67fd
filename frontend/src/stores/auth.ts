import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as authApi from '@/api/auth'
import { ProblemError, setCsrfToken } from '@/api/http'

const RANK: Record<authApi.Role, number> = { viewer: 1, editor: 2, admin: 3 }

/** Who is logged in, and what they may do. The server enforces it; the UI only hides buttons. */
export const useAuthStore = defineStore('auth', () => {
  const user = ref<authApi.User | null>(null)
  const checked = ref(false)

  function apply(info: { user: authApi.User | null; csrf_token: string | null } | null): void {
    user.value = info ? info.user : null
    setCsrfToken(info ? info.csrf_token : null)
  }

  async function refresh(): Promise<void> {
    try {
      apply(await authApi.currentSession())
    } catch (error) {
      if (!(error instanceof ProblemError)) throw error
      apply(null) // server unreachable: the login page says so when the user tries
    } finally {
      checked.value = true
    }
  }

  async function login(username: string, password: string): Promise<void> {
    apply(await authApi.login(username, password))
  }

  async function changePassword(current: string, next: string): Promise<void> {
    apply(await authApi.changePassword(current, next))
  }

  async function logout(): Promise<void> {
    try {
      await authApi.logout()
    } finally {
      apply(null)
    }
  }

  /** Whether the user has this role or a higher one. */
  const hasRole = (role: authApi.Role) => !!user.value && RANK[user.value.role] >= RANK[role]
  const canEdit = computed(() => hasRole('editor'))
  const isAdmin = computed(() => hasRole('admin'))

  return { user, checked, refresh, login, logout, changePassword, hasRole, canEdit, isAdmin, forget: () => apply(null) }
})
