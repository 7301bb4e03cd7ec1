import { spawn, type ChildProcess } from 'node:child_process'
import type { Request, Response, NextFunction } from 'express'
import { until } from './bridge.ts'

export { freePort } from '../../bench/lib.ts'

/** `referral-bridge serve` as a real child process (so it can be SIGKILLed), its output kept in `output`. */
export function bridgeProcess(env: NodeJS.ProcessEnv, output: string[]): ChildProcess {
  const child = spawn(process.execPath, ['bin/referral-bridge.js', 'serve'], { env: { ...process.env, SANDBOX_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (d) => output.push(String(d)))
  return child
}

/** /healthz is 200 only once the destinations exist and webhooks are accepted. */
export function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  return until(async () => (await fetch(`${url}/healthz`).then((r) => r.ok).catch(() => false)), timeoutMs, `${url} ready`)
}

/**
 * Middleware for a vendor sandbox: the first matching request is processed at once, but its answer is held back
 * for `holdMs`. `applied` resolves when the vendor has applied it — the moment to SIGKILL the bridge, which then
 * never learns the call succeeded.
 */
export function holdFirstAnswer(matches: (req: Request) => boolean, holdMs: number, answered: (res: Response) => boolean = () => true) {
  let applied: () => void = () => {}
  const appliedPromise = new Promise<void>((r) => (applied = r))
  let held = false
  const middleware = (req: Request, res: Response, next: NextFunction) => {
    if (!held && matches(req)) {
      const end = res.end.bind(res) as (...args: unknown[]) => Response
      ;(res as unknown as { end: (...args: unknown[]) => Response }).end = (...args: unknown[]) => {
        if (!held && answered(res)) {
          held = true
          applied()
          setTimeout(() => end(...args), holdMs)
        } else end(...args)
        return res
      }
    }
    next()
  }
  return { middleware, applied: appliedPromise }
}
