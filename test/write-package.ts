import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Write a package folder: metadata (merged over a valid default) and an entry module. */
export async function writePackage (parent: string, name: string, meta: Record<string, unknown>, entry: string): Promise<string> {
  const dir = join(parent, name)
  await mkdir(dir, { recursive: true })
  const metadata = { package_name: name, publisher: 'test.os', version: '1.0.0', entry: 'index.js', dependencies: [], scripts: {}, ...meta }
  await writeFile(join(dir, 'metadata.json'), JSON.stringify(metadata))
  await writeFile(join(dir, 'index.js'), entry)
  return dir
}
