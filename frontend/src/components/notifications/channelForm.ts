/**
 * A notification channel's edit form: one flat model for the three types, to and from the API.
 * Credentials (the e-mail password, the webhook's signing secret, the Slack URL) are write-only:
 * the form starts them empty, an empty field keeps the stored one (`***` is sent), and "remove"
 * clears it (`''` is sent).
 */
import { ProblemError } from '@/api/http'
import { MASKED, type Channel, type ChannelConfig, type ChannelType } from '@/api/notifications'

export type Security = 'none' | 'starttls' | 'tls'

export interface ChannelForm {
  name: string
  type: ChannelType
  enabled: boolean
  // email
  host: string
  /** null: the default for the security (25, 587 or 465). */
  port: number | null
  security: Security
  username: string
  password: string
  from: string
  to: string[]
  // webhook (a plain URL) and slack (the URL is the credential)
  url: string
  secret: string
  /** The credentials stored on the server (an edit), by config key. */
  stored: Record<string, boolean>
  /** Stored credentials the user chose to remove. */
  clear: Record<string, boolean>
}

/** Per type, the config keys that are credentials (as backend/schemas/notifications.py). */
export const SECRET_KEYS: Record<ChannelType, string[]> = {
  email: ['password'],
  webhook: ['secret'],
  slack: ['url'],
}

export const SECURITY: { value: Security; label: string; port: number }[] = [
  { value: 'starttls', label: 'STARTTLS', port: 587 },
  { value: 'tls', label: 'TLS', port: 465 },
  { value: 'none', label: 'None', port: 25 },
]

export function emptyChannelForm(type: ChannelType = 'webhook'): ChannelForm {
  return {
    name: '',
    type,
    enabled: true,
    host: '',
    port: null,
    security: 'starttls',
    username: '',
    password: '',
    from: '',
    to: [],
    url: '',
    secret: '',
    stored: {},
    clear: {},
  }
}

const text = (value: unknown): string => (typeof value === 'string' && value !== MASKED ? value : '')

export function formFromChannel(channel: Channel): ChannelForm {
  const config = channel.config as Record<string, unknown>
  const form = emptyChannelForm(channel.type)
  form.name = channel.name
  form.enabled = channel.enabled
  form.stored = { ...channel.secrets }
  if (channel.type === 'email') {
    form.host = text(config.host)
    form.port = typeof config.port === 'number' ? config.port : null
    form.security = (['none', 'starttls', 'tls'] as const).find((s) => s === config.security) ?? 'starttls'
    form.username = text(config.username)
    form.from = text(config.from)
    form.to = Array.isArray(config.to) ? config.to.map(String) : []
  } else if (channel.type === 'webhook') {
    form.url = text(config.url)
  }
  return form
}

/** True when the credential `key` is stored and stays (not typed anew, not removed). */
export function keepsStored(form: ChannelForm, key: 'password' | 'secret' | 'url'): boolean {
  return !!form.stored[key] && !form.clear[key] && !form[key]
}

/** A credential's value to send: the typed one, `***` to keep the stored one, '' to clear it, null for none. */
function credential(form: ChannelForm, key: 'password' | 'secret' | 'url'): string | null {
  if (form[key]) return form[key]
  if (form.stored[key]) return form.clear[key] ? '' : MASKED
  return null
}

/** The config to send for the form's type, or the problems found before sending (keyed by form field). */
export function toChannelConfig(form: ChannelForm): { config: ChannelConfig; errors: Record<string, string> } {
  const errors: Record<string, string> = {}
  let config: ChannelConfig
  if (form.type === 'email') {
    if (!form.host.trim()) errors.host = 'The SMTP server is required.'
    if (!form.from.trim()) errors.from = 'The sender address is required.'
    const to = form.to.map((a) => a.trim()).filter(Boolean)
    if (!to.length) errors.to = 'At least one recipient.'
    const password = credential(form, 'password')
    if (password && !form.username.trim()) errors.username = 'A password needs a username to log in with.'
    config = {
      host: form.host.trim(),
      port: form.port || null,
      security: form.security,
      username: form.username.trim() || null,
      password,
      from: form.from.trim(),
      to,
    }
  } else if (form.type === 'webhook') {
    if (!form.url.trim()) errors.url = 'The URL is required.'
    config = { url: form.url.trim(), secret: credential(form, 'secret') }
  } else {
    const url = credential(form, 'url')
    if (!url) errors.url = 'The incoming-webhook URL is required.'
    config = { url: url ?? '' }
  }
  return { config, errors }
}

/** The form field a server problem's `field` names ("config.to.0" → "to", "name" → "name"), or null. */
export function channelErrorField(field: string | null | undefined): string | null {
  if (!field) return null
  const parts = field.replace(/^body\./, '').split('.')
  if (parts[0] === 'config' && parts[1]) return parts[1]
  if (['name', 'type', 'enabled'].includes(parts[0])) return parts[0]
  return null
}

/** A server problem as `{formField: message}`, or null when it names no field of the form. */
export function channelProblem(error: unknown): Record<string, string> | null {
  if (!(error instanceof ProblemError)) return null
  const key = channelErrorField(error.field)
  if (!key) return null
  let message = error.detail || error.title
  if (error.field && message.startsWith(`${error.field}: `)) message = message.slice(error.field.length + 2)
  const index = /^config\.to\.(\d+)/.exec(error.field || '')
  if (index) message = `Recipient ${Number(index[1]) + 1}: ${message}`
  return { [key]: message.charAt(0).toUpperCase() + message.slice(1) }
}

/** A channel's target in one line for the list ("ops@example.com", "https://hooks.example.com/…"). */
export function channelTarget(channel: Channel): string {
  const config = channel.config as Record<string, unknown>
  if (channel.type === 'email') {
    const to = Array.isArray(config.to) ? config.to.map(String) : []
    return `${to.join(', ')} via ${text(config.host)}`
  }
  if (channel.type === 'webhook') return text(config.url)
  return channel.secrets.url ? 'incoming webhook (URL set)' : 'no URL'
}
