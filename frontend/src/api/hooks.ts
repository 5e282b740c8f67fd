/**
 * Trigger URLs ("hooks") of a script: `POST /hooks/<token>` starts it without a login. The token is
 * the credential, so the API shows it once (create, rotate) and lists only its first characters.
 */
import { http } from './http'
import type { Schemas } from './types'

/** A trigger URL as listed: name, token prefix, who made it, when and from where it was last used. */
export type Hook = Schemas['HookOut']
/** The one answer that carries the token and the URL (create and rotate). */
export type HookCreated = Schemas['HookCreated']

const base = (scriptId: number) => `/api/scripts/${scriptId}/hooks`

export async function listHooks(scriptId: number): Promise<Hook[]> {
  return (await http.get<Schemas['HookList']>(base(scriptId))).items
}

export const createHook = (scriptId: number, name: string) => http.post<HookCreated>(base(scriptId), { name })

/** A new token for the URL; the old one stops working at once. */
export const rotateHook = (scriptId: number, hookId: number) =>
  http.post<HookCreated>(`${base(scriptId)}/${hookId}/rotate`)

export const revokeHook = (scriptId: number, hookId: number) => http.delete(`${base(scriptId)}/${hookId}`)
