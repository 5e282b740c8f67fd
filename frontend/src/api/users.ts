import { http } from './http'
import type { User } from './auth'
import type { GetQuery, Schemas } from './types'

/** User administration and the audit trail (admins only). */

export type UserCreateInput = Schemas['UserCreate']
/** PATCH: only the fields given change; a new password or deactivation ends the user's sessions. */
export type UserChanges = Schemas['UserPatch']
export type AuditEvent = Schemas['AuditOut']

export const listUsers = () => http.get<Schemas['UserList']>('/api/users')
export const createUser = (body: UserCreateInput) => http.post<User>('/api/users', body)
export const updateUser = (id: number, changes: UserChanges) => http.patch<User>(`/api/users/${id}`, changes)
export const deleteUser = (id: number) => http.delete(`/api/users/${id}`)

export const listAudit = (query: GetQuery<'/api/audit'> = {}) => http.get<Schemas['AuditList']>('/api/audit', query)
