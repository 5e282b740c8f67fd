/**
 * Notification channels (`/api/notification-channels`, admins only): CRUD, "send test" and each
 * channel's delivery history; and the subscriptions scripts and schedules carry (`notifications`).
 */
import { http } from './http'
import type { Blankable, GetQuery, Schemas } from './types'

export type ChannelType = Schemas['ChannelType']
export type NotificationEvent = Schemas['NotificationEvent']
/** Credentials in `config` come back as `***` when set (null when not); `secrets` says which are set. */
export type Channel = Schemas['ChannelOut']
/** What anyone picking channels for a script or schedule sees of a channel (no config). */
export type ChannelName = Schemas['ChannelName']
export type ChannelInput = Schemas['ChannelCreate']
export type ChannelConfig = ChannelInput['config']
/** PATCH: only the fields given change; `config` is the whole config (`***` keeps a credential). */
export type ChannelChanges = Schemas['ChannelPatch']
export type Delivery = Schemas['DeliveryOut']
export type DeliveryStatus = Schemas['DeliveryStatus']
/** One entry of a script's or schedule's `notifications`. */
export type Subscription = Schemas['NotificationSubscription']

/** What a credential looks like in an answer, and, sent back, "keep the stored one". */
export const MASKED = '***'

/** The events a subscription can list, in the order the pickers show them. */
export const EVENTS: { value: NotificationEvent; label: string; help: string }[] = [
  { value: 'failure', label: 'Failure', help: 'the run failed (after its last retry) or was interrupted' },
  { value: 'timeout', label: 'Timeout', help: 'the run was killed at its timeout' },
  { value: 'success', label: 'Success', help: 'every successful run' },
  { value: 'recovery', label: 'Recovery', help: 'the first success after a run that did not succeed' },
]

export const CHANNEL_TYPES: { value: ChannelType; label: string }[] = [
  { value: 'email', label: 'E-mail (SMTP)' },
  { value: 'webhook', label: 'Webhook (JSON POST)' },
  { value: 'slack', label: 'Slack / Mattermost' },
]

const base = '/api/notification-channels'

export const listChannels = () => http.get<Schemas['ChannelList']>(base)
export const listChannelNames = () => http.get<Schemas['ChannelNameList']>(`${base}/names`)
export const getChannel = (id: number) => http.get<Channel>(`${base}/${id}`)
export const createChannel = (body: ChannelInput) => http.post<Channel>(base, body)
export const updateChannel = (id: number, changes: ChannelChanges) => http.patch<Channel>(`${base}/${id}`, changes)
export const deleteChannel = (id: number) => http.delete(`${base}/${id}`)
/** Sends a test message now; a failed send is still a 200 whose delivery says what went wrong. */
export const testChannel = (id: number) => http.post<Delivery>(`${base}/${id}/test`)
export const listDeliveries = (
  id: number,
  query: Blankable<GetQuery<'/api/notification-channels/{channel_id}/deliveries'>> = {},
) => http.get<Schemas['DeliveryPage']>(`${base}/${id}/deliveries`, query)
/** The notifications one run sent (viewer-level, for the run page). */
export const listExecutionNotifications = (executionId: number) =>
  http.get<Schemas['DeliveryList']>(`/api/executions/${executionId}/notifications`)
