import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from './atomic.ts'

/** 256 bits: not guessable, and short enough to sit in an address. */
const SECRET_BYTES = 32
const SECRET = /^[A-Za-z0-9_-]{43}$/

/** The web page's key: made at first start, then read back, so a bookmarked address keeps working. */
export async function loadOrCreateWebSecret (path: string): Promise<string> {
  try {
    const secret = (await readFile(path, 'utf8')).trim()
    if (SECRET.test(secret)) return secret
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw new Error(`cannot read the web page's key ${path}: ${err.message}`)
  }
  // missing, or not one we made: a new one, which the start-up lines print
  const secret = randomBytes(SECRET_BYTES).toString('base64url')
  await writeFileAtomic(path, secret + '\n', 0o600)
  return secret
}
