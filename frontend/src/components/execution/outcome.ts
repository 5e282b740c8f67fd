/**
 * The words the run page uses for how a run went (one sentence each, no "Timed out / timed out"),
 * and for where it stands in its retry series. Pure functions, so the wording is tested on its own.
 */
import type { Execution } from '@/api/executions'
import { formatDuration, isFinal } from '@/utils/format'

/** success / error (failed, timed out) / warning (interrupted) / neutral (queued, cancelled) / running */
export type OutcomeTone = 'success' | 'error' | 'warning' | 'neutral' | 'running'

export interface Outcome {
  tone: OutcomeTone
  title: string
  /** more about it (the run's error), or null when the title says it all */
  detail: string | null
}

type Run = Pick<Execution, 'status' | 'error' | 'duration_ms' | 'started_at'>

/** "30 s", "5 min", "1 min 30 s", "2 h", "1 h 15 min" — a limit in whole seconds. */
export function formatLimit(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) {
    const rest = s % 60
    return rest ? `${Math.floor(s / 60)} min ${rest} s` : `${s / 60} min`
  }
  const minutes = Math.round((s % 3600) / 60)
  return minutes ? `${Math.floor(s / 3600)} h ${minutes} min` : `${s / 3600} h`
}

/**
 * "Timed out after 30 s (the script's limit)". The script's limit is named when it plausibly is the
 * one that applied (the run lasted about that long: the limit may have changed since); otherwise
 * the run's own duration is given.
 */
export function timeoutSentence(durationMs: number | null, scriptLimitSeconds: number | null | undefined): string {
  const seconds = durationMs === null ? null : durationMs / 1000
  // the run is stopped at the limit, then given a grace period to exit
  if (scriptLimitSeconds && (seconds === null || (seconds >= scriptLimitSeconds - 1 && seconds <= scriptLimitSeconds + 60))) {
    return `Timed out after ${formatLimit(scriptLimitSeconds)} (the script's limit)`
  }
  if (seconds === null) return 'Timed out: the time limit was reached'
  return `Timed out after ${formatLimit(seconds)} (the time limit)`
}

const REPEATS_STATUS = /^(timed out|cancell?ed|interrupted)\.?$/i

/** The run's error unless it only repeats what the title says. */
function extra(error: string | null): string | null {
  const text = (error ?? '').trim()
  return text && !REPEATS_STATUS.test(text) ? text : null
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

export function outcomeOf(run: Run, options: { now?: number; timeoutSeconds?: number | null } = {}): Outcome {
  const now = options.now ?? Date.now()
  switch (run.status) {
    case 'queued':
      return { tone: 'neutral', title: 'Queued: waiting to start', detail: null }
    case 'running': {
      const since = run.started_at ? Date.parse(run.started_at) : NaN
      const title = Number.isNaN(since) ? 'Running' : `Running for ${formatDuration(Math.max(0, now - since))}`
      return { tone: 'running', title, detail: null }
    }
    case 'succeeded':
      return {
        tone: 'success',
        title: run.duration_ms === null ? 'Succeeded' : `Succeeded in ${formatDuration(run.duration_ms)}`,
        detail: null,
      }
    case 'timed_out':
      return { tone: 'error', title: timeoutSentence(run.duration_ms, options.timeoutSeconds), detail: extra(run.error) }
    case 'cancelled': {
      const error = (run.error ?? '').trim()
      const by = /^cancell?ed by (.+)$/i.exec(error)
      if (by) return { tone: 'neutral', title: `Cancelled by ${by[1]}`, detail: null }
      if (/^cancell?ed\b/i.test(error) && !REPEATS_STATUS.test(error)) {
        return { tone: 'neutral', title: capitalise(error.replace(/^cancell?ed/i, 'Cancelled')), detail: null }
      }
      return { tone: 'neutral', title: 'Cancelled', detail: extra(run.error) }
    }
    case 'interrupted':
      return { tone: 'warning', title: 'Interrupted', detail: extra(run.error) ?? 'The run was cut short (the server stopped).' }
    case 'failed': {
      const took = run.duration_ms === null ? '' : ` after ${formatDuration(run.duration_ms)}`
      return { tone: 'error', title: `Failed${took}`, detail: extra(run.error) }
    }
    default:
      return { tone: 'neutral', title: capitalise(String(run.status).replace(/_/g, ' ')), detail: extra(run.error) }
  }
}

type Attempt = Pick<Execution, 'id' | 'attempt' | 'status' | 'next_attempt_id'>

/** "attempt 2 of 3" (or "attempt 2" when the series' length is not known). */
export function attemptText(attempt: number, total: number | null | undefined): string {
  return total && total >= attempt ? `attempt ${attempt} of ${total}` : `attempt ${attempt}`
}

/**
 * How a retry series ended, from its attempts (ordered by attempt): "succeeded at attempt 2 of 3",
 * "still running", "failed after 3 attempts", "cancelled at attempt 2". `total` is the script's
 * max_retries + 1 when known.
 */
export function seriesText(attempts: Attempt[], total?: number | null): string {
  if (!attempts.length) return ''
  const last = attempts[attempts.length - 1]
  if (!isFinal(last.status) || last.next_attempt_id) return `still running (${attemptText(last.attempt, total)})`
  switch (last.status) {
    case 'succeeded':
      return `succeeded at ${attemptText(last.attempt, total)}`
    case 'cancelled':
      return `cancelled at ${attemptText(last.attempt, total)}`
    case 'interrupted':
      return `interrupted at ${attemptText(last.attempt, total)}`
    default:
      return last.attempt === 1 ? 'failed after 1 attempt' : `failed after ${last.attempt} attempts`
  }
}

/** The series is over: its last attempt ended and queued no retry. */
export function seriesDone(attempts: Attempt[]): boolean {
  const last = attempts[attempts.length - 1]
  return !!last && isFinal(last.status) && !last.next_attempt_id
}
