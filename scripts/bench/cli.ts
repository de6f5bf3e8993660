/** What the benchmark scripts' command lines share: whole-number options, and a run in a temporary folder. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopAll } from '../../test/helpers.ts'

/** `--name`'s value as a whole number above 0, or an error that says what it takes. */
export function wholeNumber (name: string, value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new Error(`--${name} takes a whole number, not ${JSON.stringify(value)}`)
  return Number(value)
}

/**
 * Read the options, then run `bench` with them in a new temporary folder, removed afterwards.
 * The exit status: 0; 2 after one line on options it cannot take; 1 once an error of the run is
 * reported and any daemon it left is killed.
 */
export async function runInTempDir<Options> (name: string, options: () => Options | Promise<Options>, bench: (dir: string, options: Options) => Promise<void>): Promise<number> {
  let given: Options
  try {
    given = await options()
  } catch (err: any) {
    console.error(`${name}: ${err.message}`)
    return 2
  }
  const dir = await mkdtemp(join(tmpdir(), `hwd-${name}-`))
  try {
    await bench(dir, given)
    return 0
  } catch (err) {
    console.error(`${name}:`, err)
    await stopAll()
    return 1
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
