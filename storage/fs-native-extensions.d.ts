/** The part of Holepunch's fs-native-extensions (which ships no types) that the home lock uses. */
declare module 'fs-native-extensions' {
  /** An exclusive lock on the whole file, or false at once if another open file holds one. */
  export function tryLock (fd: number): boolean
  /** The same, waiting (in the thread pool) until the holder lets go. */
  export function waitForLock (fd: number): Promise<void>
}
