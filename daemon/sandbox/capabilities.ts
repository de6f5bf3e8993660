/**
 * What a sandboxed package may do beyond its own drive and state folder, as `metadata.json`
 * asks for it in `capabilities`. The APIs of the packages it depends on are granted by
 * `dependencies`, so a package's whole reach is these two lists.
 */
export const CAPABILITIES = {
  /** dial nodes by name and open and handle its own protocols (`/<package>:<publisher>/...`) */
  net: 'dial nodes and handle its own protocols',
  /** print lines on the node's terminal */
  terminal: 'print to the node\'s terminal'
} as const

export type Capability = keyof typeof CAPABILITIES

export function isCapability (c: unknown): c is Capability {
  return typeof c === 'string' && Object.hasOwn(CAPABILITIES, c)
}

/** The protocols a package may handle and dial with `net`: those under its own id. */
export function ownsProtocol (id: string, protocol: unknown): protocol is string {
  return typeof protocol === 'string' && protocol.startsWith(`/${id}/`) && protocol.length <= 256
}

/** A package's reach as one line: `net, terminal, file-transfer:template.os`, or `nothing`. */
export function describeGrant (capabilities: readonly string[], dependencies: readonly string[]): string {
  const all = [...capabilities, ...dependencies]
  return all.length === 0 ? 'nothing beyond its drive' : all.join(', ')
}
