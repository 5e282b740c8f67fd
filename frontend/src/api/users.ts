import { http, type Page, type Query } from './http'
import type { Role, User } from './auth'

/** User administration and the audit trail (admins only). */

export interface UserCreateInput {
  username: string
  password: string
  role: Role
  full_name: string
}

/** PATCH: only the fields given change; a new password or deactivation ends the user's sessions. */
export type UserChanges = Partial<UserCreateInput & { active: boolean }>

export const listUsers = () => http.get<Page<User>>('/api/users')
export const createUser = (body: UserCreateInput) => http.post<User>('/api/users', body)
export const updateUser = (id: number, changes: UserChanges) => http.patch<User>(`/api/users/${id}`, changes)
export const deleteUser = (id: number) => http.delete(`/api/users/${id}`)

export interface AuditEvent {
  id: number
  time: string
  username: string
  action: string
  target_type: string
  target_id: string
  detail: Record<string, unknown>
  ip: string
  status: number
}

export interface AuditQuery {
  action?: string
  username?: string
  page?: number
  per_page?: number
}

export const listAudit = (query: AuditQuery = {}) => http.get<Page<AuditEvent>>('/api/audit', query as Query)
