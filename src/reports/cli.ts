import { parseArgs } from 'node:util'
import type { Store } from '../queue/store.ts'
import { advocatesWithRecentConversions, cohortCsv, friendsSignedUpNotPurchased, type AdvocateCohortRow, type FriendCohortRow } from './cohorts.ts'

export const COHORT_USAGE = `usage:
  referral-bridge report advocates --friends-purchased-within 30d [--min 3] [--format table|csv|json]
      advocates with at least --min referred friends whose first purchase is in the window
  referral-bridge report friends --signed-up-not-purchased [--format table|csv|json]
      referred friends who signed up and never purchased
(docs/analysts.md: the Mixpanel cohort that answers the same question)`

/** True when `report` args ask a cohort question rather than the revenue report. */
export function isCohortReport(args: string[]): boolean {
  return args[0] === 'friends' || args.some((a) => a.startsWith('--friends-purchased-within'))
}

function parseWindow(value: string): number {
  const m = /^(\d+)\s*(d|h)$/.exec(value.trim())
  if (!m) throw new Error(`--friends-purchased-within must look like 30d or 12h, got "${value}"`)
  return Number(m[1]) * (m[2] === 'd' ? 86_400_000 : 3_600_000)
}

export async function cohortReportCommand(args: string[], store: Store, out: NodeJS.WritableStream, now = Date.now()): Promise<number> {
  const print = (s: string) => void out.write(s + '\n')
  const [sub, ...rest] = args
  const { values } = parseArgs({
    args: rest,
    options: {
      'friends-purchased-within': { type: 'string' },
      min: { type: 'string', default: '3' },
      'signed-up-not-purchased': { type: 'boolean' },
      format: { type: 'string', default: 'table' }
    }
  })
  const format = values.format
  if (format !== 'table' && format !== 'csv' && format !== 'json') {
    print(`--format must be table, csv or json, got "${format}"`)
    return 2
  }
  let rows: Array<AdvocateCohortRow | FriendCohortRow>
  if (sub === 'advocates' && values['friends-purchased-within']) {
    const min = Number(values.min)
    if (!Number.isInteger(min) || min < 1) {
      print(`--min must be a positive integer, got "${values.min}"`)
      return 2
    }
    let withinMs: number
    try {
      withinMs = parseWindow(values['friends-purchased-within'])
    } catch (err) {
      print((err as Error).message)
      return 2
    }
    rows = await advocatesWithRecentConversions(store, { withinMs, min, now })
  } else if (sub === 'friends' && values['signed-up-not-purchased']) {
    rows = await friendsSignedUpNotPurchased(store)
  } else {
    print(COHORT_USAGE)
    return 2
  }
  if (format === 'json') out.write(JSON.stringify(rows, null, 2) + '\n')
  else if (format === 'csv') out.write(cohortCsv(rows))
  else {
    for (const r of rows) print('friends_purchased' in r ? `${r.advocate}\t${r.friends_purchased}` : `${r.friend}\t${r.signed_up_at}\t${r.advocate ?? ''}`)
    print(`${rows.length} ${sub === 'advocates' ? 'advocate(s)' : 'friend(s)'} in the cohort`)
  }
  return 0
}
