/**
 * The identity failed attempts count against: declared by a strategy (a password
 * strategy names its user field) or by the app, never guessed from the payload's
 * shape, and normalised so that spelling variants of one name share a counter.
 */
import { AuthError } from '../errors.js';
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
  return (credentials) => {
    const value = credentials[field];
    if (value === undefined || value === null || typeof value === 'string') return normalizeIdentity(value, fold);
    // A number names the same account as its digits (an app's `String(c.username)` admits both): counted as such.
    if (typeof value === 'number' || typeof value === 'bigint') return normalizeIdentity(String(value), fold);
    // Anything else (`["alice"]`, an object) would be counted against no identity at all while an app that
    // stringifies it still checks the password: refused before anything is verified.
    throw new AuthError('invalid_request', { detail: `identity field ${field} is not a string` });
  };
}

/**
 * The identity of a list of strategies tried in order: the identity the
 * credentials name (refused with `invalid_request` when they name two different
 * ones). `undefined` when no strategy declares one (nothing is counted per
 * identity, and no work is done per attempt).
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
    // Credentials naming two different identities (an `email` decoy beside the `username` a later strategy checks)
    // would be counted against the decoy: refused before anything is verified.
    let found: string | undefined;
    for (const read of readers) {
      const id = read(credentials);
      if (id === undefined) continue;
      if (found !== undefined && id !== found) {
        throw new AuthError('invalid_request', { detail: 'credentials name more than one identity' });
      }
      found = id;
    }
    return found;
  };
}

/** Which member of a composite strategy admitted a principal (the innermost one: the first recorded wins). */
const admitted = new WeakMap<object, Strategy>();

/** Records that `strategy`, a member of a composite, admitted `principal` (composites call this). */
export function recordAdmission(principal: object, strategy: Strategy): void {
  if (!admitted.has(principal)) admitted.set(principal, strategy);
}

/** The member strategy that admitted `principal`, when a composite admitted it. */
export function admittingStrategy(principal: object): Strategy | undefined {
  return admitted.get(principal);
}
