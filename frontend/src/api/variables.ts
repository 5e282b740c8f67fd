/**
 * Shared variables (`/api/variables`): any logged-in user lists them (a secret's value shows as
 * `***`); only admins create, change or delete them. Scripts name the ones they receive.
 */
import { http } from './http'
import type { Schemas } from './types'

export type Variable = Schemas['VariableOut']
export type VariableInput = Schemas['VariableCreate']
/** Fields to change; absent means unchanged. A secret becomes plain only with a new value. */
export type VariableChanges = Schemas['VariablePatch']

const base = '/api/variables'

export const listVariables = () => http.get<Schemas['VariableList']>(base)
export const createVariable = (body: VariableInput) => http.post<Variable>(base, body)
export const updateVariable = (name: string, changes: VariableChanges) =>
  http.patch<Variable>(`${base}/${encodeURIComponent(name)}`, changes)
export const deleteVariable = (name: string) => http.delete(`${base}/${encodeURIComponent(name)}`)
