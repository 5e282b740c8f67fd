import { http, type Page } from './http'

export type Role = 'admin' | 'editor' | 'viewer'

export interface User {
  id: number
  username: string
  full_name: string
  role: Role
  active: boolean
  created_at: string
  last_login_at: string | null
}

export interface SessionInfo {
  user: User
  csrf_token: string | null
}

export interface ApiToken {
  id: number
  name: string
  prefix: string
  created_at: string
  last_used_at: string | null
}

export interface CreatedToken extends ApiToken {
  token: string
}

export const login = (username: string, password: string) =>
  http.post<SessionInfo>('/api/auth/login', { username, password })
export const logout = () => http.post<null>('/api/auth/logout')
export const me = () => http.get<SessionInfo>('/api/auth/me')
/** Like `me`, but answers `{user: null}` instead of a 401 when nobody is logged in. */
export const currentSession = () =>
  http.get<{ user: User | null; csrf_token: string | null }>('/api/auth/session')
/** Ends your other sessions; answers with this browser's fresh session (and CSRF token). */
export const changePassword = (currentPassword: string, newPassword: string) =>
  http.post<SessionInfo>('/api/auth/password', { current_password: currentPassword, new_password: newPassword })
export const listTokens = () => http.get<Page<ApiToken>>('/api/auth/tokens')
export const createToken = (name: string) => http.post<CreatedToken>('/api/auth/tokens', { name })
export const revokeToken = (id: number) => http.delete(`/api/auth/tokens/${id}`)
