import type { Store, JobFilter } from '../queue/store.ts'

/** Replays dead jobs (by id, or all matching a filter) with their original ids, in chunks, reporting progress. */
export async function replayDeadLetters(
  store: Store,
  selection: { ids?: string[]; filter?: JobFilter },
  now: number,
  onProgress?: (done: number, total: number) => void
): Promise<{ matched: number; replayed: number }> {
  const ids = selection.ids ?? (await store.listJobs('dead', { ...selection.filter, limit: selection.filter?.limit ?? 1_000_000 })).map((j) => j.id)
  let replayed = 0
  const chunk = 500
  for (let i = 0; i < ids.length; i += chunk) {
    replayed += await store.replay(ids.slice(i, i + chunk), now)
    onProgress?.(Math.min(i + chunk, ids.length), ids.length)
  }
  return { matched: ids.length, replayed }
}
