/** Runs the jobs it is given one at a time, each once the one before has settled, whatever its outcome. */
export class Serial {
  private last: Promise<unknown> = Promise.resolve()

  async run<T> (job: () => Promise<T>): Promise<T> {
    const run = this.last.then(job)
    this.last = run.catch(() => {})
    return await run
  }
}
