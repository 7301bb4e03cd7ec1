import type { Clock } from '../clock.ts'

/** Token bucket per destination: `ratePerSecond` calls sustained, `burst` at once. */
export class RateLimit {
  private tokens: number
  private last: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: Clock
  ) {
    this.tokens = burst
    this.last = clock.now()
  }

  /** Waits until a call may start. Callers share one bucket, so concurrency never exceeds the rate. */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = this.clock.now()
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond)
      this.last = now
      if (this.tokens >= 1) {
        this.tokens -= 1
        return
      }
      if (signal?.aborted) return
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000), signal)
    }
  }
}
