/**
 * The identity failed attempts count against: declared by a strategy (a password
 * strategy names its user field) or by the app, never guessed from the payload's
 * shape, and normalised so that spelling variants of one name share a counter.
 */
import type { Credentials, Strategy } from './types.js';

/**
 * Where a strategy reads the identity its failures count against:
 * - a field name (`'username'`): that field, trimmed, NFC, case-folded;
 * - `{ field, caseFold }`: the same, choosing whether case variants are one identity;
 * - a function of the credentials: its string result, trimmed and NFC (fold it yourself if you need to).
 */
export type IdentityDeclaration = string | { readonly field: string; readonly caseFold?: boolean } | IdentityFunction;

/** Reads an identity from credentials; `undefined` when they name none. */
export type IdentityFunction = (credentials: Credentials) => string | undefined;

/**
 * Normalises an identity: trimmed, Unicode NFC, and, with `caseFold`, case-folded
 * (upper then lower case, so `Straße` and `STRASSE` meet). `undefined` for anything
 * but a string that is non-empty once trimmed.
 */
export function normalizeIdentity(value: unknown, caseFold: boolean): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim().normalize('NFC');
  if (trimmed === '') return undefined;
  return caseFold ? trimmed.toUpperCase().toLowerCase().normalize('NFC') : trimmed;
}

/** Turns a declaration into a reader. Throws `TypeError` on a malformed one (`where` names the option). */
export function identityReader(declaration: IdentityDeclaration, where: string): IdentityFunction {
  if (typeof declaration === 'function') {
    return (credentials) => normalizeIdentity(declaration(credentials), false);
  }
  const { field, caseFold } = typeof declaration === 'string' ? { field: declaration, caseFold: true } : (declaration ?? {});
  if (typeof field !== 'string' || field === '') {
    throw new TypeError(`portcullis: ${where} must be a field name, { field, caseFold } or a function`);
  }
  if (caseFold !== undefined && typeof caseFold !== 'boolean') throw new TypeError(`portcullis: ${where}.caseFold must be a boolean`);
  const fold = caseFold ?? true;
  return (credentials) => normalizeIdentity(credentials[field], fold);
}

/**
 * The identity of a list of strategies tried in order: the first declared
 * identity the credentials name. `undefined` when no strategy declares one
 * (nothing is counted per identity, and no work is done per attempt).
 */
export function strategiesIdentity(strategies: readonly Strategy[]): IdentityFunction | undefined {
  const readers: IdentityFunction[] = [];
  for (const s of strategies) {
    if (s.identity === undefined) continue;
    if (typeof s.identity !== 'function') throw new TypeError(`portcullis: strategy ${s.name}: identity must be a function`);
    readers.push(s.identity);
  }
  if (readers.length === 0) return undefined;
  if (readers.length === 1) return readers[0];
  return (credentials) => {
    for (const read of readers) {
      const found = read(credentials);
      if (found !== undefined) return found;
    }
    return undefined;
  };
}
