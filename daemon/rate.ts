/** The rate is taken over about this much of the recent past: steady, yet quick to follow a change. */
const WINDOW_MS = 3_000

/** How fast a job moves and when it will be done, from the progress it reports. */
export class RateMeter {
  private readonly samples: Array<{ at: number, done: number }> = []

  update (done: number, at = performance.now()): void {
    const last = this.samples.at(-1)
    if (last != null && done < last.done) this.samples.length = 0 // started over
    this.samples.push({ at, done })
    while (this.samples.length > 2 && at - this.samples[1].at >= WINDOW_MS) this.samples.shift()
  }

  /** bytes a second, or undefined until two reports some time apart */
  get rate (): number | undefined {
    const first = this.samples[0]
    const last = this.samples.at(-1)
    if (first == null || last == null || last.at - first.at < 100) return undefined
    return (last.done - first.done) * 1000 / (last.at - first.at)
  }

  /** `118.3 MB/s, 0:42 left`, as far as it is known yet */
  describe (total?: number): string {
    const rate = this.rate
    if (rate == null) return ''
    const done = this.samples.at(-1)?.done ?? 0
    const speed = `${(rate / 1e6).toFixed(1)} MB/s`
    if (total == null || rate <= 0 || done >= total) return speed
    return `${speed}, ${formatDuration((total - done) / rate)} left`
  }
}

/** `0:42`, `12:05`, `1:02:09`: a time left as people read it. */
export function formatDuration (seconds: number): string {
  const s = Math.ceil(seconds)
  const hours = Math.floor(s / 3600)
  const minutes = Math.floor(s / 60) % 60
  const rest = String(s % 60).padStart(2, '0')
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`
}
