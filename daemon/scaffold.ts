import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { UsageError } from '../errors.ts'
import { PACKAGE_NAME, PUBLISHER_NAME } from '../protocol/packages/release.ts'

/**
 * `hwd new NAME`: a small working package that imports `file-transfer:template.os`'s worker
 * API, as Hyperware's `kit new` makes one from a template. Plain JavaScript with JSDoc types,
 * so it runs without a build and still type-checks against `hwd/package` and
 * `hwd/file-transfer`.
 */
export async function scaffold (name: string, publisher: string, parent: string): Promise<string> {
  if (!PACKAGE_NAME.test(name)) throw new UsageError(`package name ${JSON.stringify(name)}: lower-case letters, digits and hyphens`)
  if (!PUBLISHER_NAME.test(publisher)) throw new UsageError(`publisher ${JSON.stringify(publisher)}: a lower-case DNS-like name such as template.os`)
  const dir = resolve(parent, name)
  try {
    await mkdir(dir, { recursive: false })
  } catch (err: any) {
    throw cannotCreate(err, dir)
  }
  try {
    await writeFile(join(dir, 'metadata.json'), JSON.stringify(metadata(name, publisher), null, 2) + '\n')
    await writeFile(join(dir, 'index.js'), ENTRY)
  } catch (err) {
    // A half-written package would fail to load and block the next `hwd new` with EEXIST.
    await rm(dir, { recursive: true, force: true }).catch(() => {})
    throw err
  }
  return dir
}

/** The one line to show for a folder we could not make; a failure we did not foresee as is. */
function cannotCreate (err: NodeJS.ErrnoException, dir: string): Error {
  const parent = dirname(dir)
  switch (err.code) {
    case 'EEXIST': return new UsageError(`${dir} already exists`)
    case 'ENOENT': return new UsageError(`no folder ${parent} to create the package in`)
    case 'ENOTDIR': return new UsageError(`cannot create a folder under ${parent}: a part of that path is a file`)
    case 'EACCES':
    case 'EPERM': return new UsageError(`no permission to create ${dir}`)
    case 'EROFS': return new UsageError(`${parent} is on a read-only file system`)
    default: return err
  }
}

function metadata (name: string, publisher: string): object {
  return {
    package_name: name,
    publisher,
    version: '0.1.0',
    description: `${name}: files fetched from other nodes with file-transfer:template.os's worker`,
    entry: 'index.js',
    dependencies: ['file-transfer:template.os'],
    scripts: {
      download: { args: 'FILE NODE', summary: `fetch FILE from NODE's ${name} drive into ours`, minArgs: 2, maxArgs: 2 },
      'list-files': { args: 'NODE', summary: `the files NODE offers in its ${name} drive`, minArgs: 1, maxArgs: 1 },
      'fetch-all': { args: 'NODE', summary: `download every file NODE offers in its ${name} drive, several at once`, minArgs: 1, maxArgs: 1 }
    }
  }
}

const ENTRY = `// @ts-check
/**
 * A package for hwd. The daemon calls start(ctx) and registers the scripts it returns as
 * terminal commands: download:<package>:<publisher>, list-files:..., fetch-all:...
 *
 * It imports file-transfer:template.os's API (declared in metadata.json's dependencies), whose
 * startDownload() spawns one worker per transfer, writing into this package's own drive:
 * <home>/vfs/<package>:<publisher>/files/
 */

/** How many workers fetch-all runs at once. */
const PARALLEL = 4

/**
 * @param {import('hwd/package').PackageContext} ctx
 * @returns {import('hwd/package').PackageRuntime}
 */
export function start (ctx) {
  /** @type {import('hwd/file-transfer').FileTransferApi} */
  const files = /** @type {any} */ (ctx.deps['file-transfer:template.os'])
  // Offer our drive to other nodes running this package.
  files.serve(ctx)

  return {
    scripts: {
      ...files.scripts(ctx),
      'fetch-all': async ([node], { out, signal }) => {
        const { files: wanted } = await files.listFiles(ctx, node, { signal })
        let next = 0
        const worker = async () => {
          while (next < wanted.length) {
            const { name } = wanted[next++]
            const result = await files.startDownload(ctx, {
              isRequester: true,
              source: node,
              file: name,
              signal,
              onProgress: update => out.progress(update)
            }).done
            out.line(\`fetched \${result.file} (\${result.size} bytes)\`)
          }
        }
        await Promise.all(Array.from({ length: Math.min(PARALLEL, wanted.length) }, worker))
        out.line(\`fetched \${wanted.length} files from \${node}\`)
      }
    }
  }
}
`
