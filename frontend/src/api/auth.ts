import { http } from './http'
import type { Schemas } from './types'

export type User = Schemas['UserOut']
export type Role = User['role']
export type SessionInfo = Schemas['SessionOut']
export type ApiToken = Schemas['TokenOut']
/** A new token: `token` is its value, shown only in this answer. */
export type CreatedToken = Schemas['TokenCreated']

export const login = (username: string, password: string) =>
  http.post<SessionInfo>('/api/auth/login', { username, password } satisfies Schemas['LoginBody'])
export const logout = () => http.post<null>('/api/auth/logout')
export const me = () => http.get<SessionInfo>('/api/auth/me')
/** Like `me`, but answers `{user: null}` instead of a 401 when nobody is logged in. */
export const currentSession = () => http.get<Schemas['MaybeSessionOut']>('/api/auth/session')
/** Ends your other sessions; answers with this browser's fresh session (and CSRF token). */
export const changePassword = (currentPassword: string, newPassword: string) =>
  http.post<SessionInfo>('/api/auth/password', {
    current_password: currentPassword,
    new_password: newPassword,
  } satisfies Schemas['PasswordChange'])
export const listTokens = () => http.get<Schemas['TokenList']>('/api/auth/tokens')
export const createToken = (name: string) =>
  http.post<CreatedToken>('/api/auth/tokens', { name } satisfies Schemas['TokenCreate'])
export const revokeToken = (id: number) => http.delete(`/api/auth/tokens/${id}`)
