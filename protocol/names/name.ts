import { MAX_NAME_LENGTH } from './constants.ts'

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** Node names look like DNS names (`fake2.dev`): lower case, so a name has one spelling. */
export function isValidName (name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && name.split('.').every(label => LABEL.test(label))
}
