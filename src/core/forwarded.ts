/**
 * The standard `Forwarded` header (RFC 7239), parsed in one left-to-right pass
 * (linear in the header's length, whatever a client puts in it):
 *
 *     Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"
 */

/** One element of the header: the parameters a proxy reported about one hop. */
export interface ForwardedElement {
  /** The `for` node with brackets and port removed (`192.0.2.60`, `2001:db8:cafe::17`, `unknown`, `_hidden`). */
  readonly for?: string;
  /** The `proto` parameter as written (`http`, `https`). */
  readonly proto?: string;
}

// RFC 7230 tchar.
const TCHAR = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]$/;

/** `[v6]:port` → `v6`; `v4:port` → `v4`; anything else unchanged. */
function nodeAddress(node: string): string {
  if (node.startsWith('[')) {
    const end = node.indexOf(']');
    return end === -1 ? '' : node.slice(1, end);
  }
  const colon = node.indexOf(':');
  return colon !== -1 && node.indexOf(':', colon + 1) === -1 ? node.slice(0, colon) : node;
}

/**
 * Parses a `Forwarded` header value (repeated headers joined with `,`). Returns
 * the elements left to right, or `undefined` when the value is malformed (a
 * parameter without `=`, an unterminated quoted string, a bad character).
 */
export function parseForwarded(value: string): ForwardedElement[] | undefined {
  const elements: ForwardedElement[] = [];
  let current: { for?: string; proto?: string } = {};
  let i = 0;
  const n = value.length;
  const skipSpace = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  for (;;) {
    skipSpace();
    // A parameter name (may be empty between separators: `;;` and `,,` are allowed).
    const nameStart = i;
    while (i < n && TCHAR.test(value[i] as string)) i++;
    const name = value.slice(nameStart, i).toLowerCase();
    if (name !== '') {
      if (value[i] !== '=') return undefined;
      i++;
      let v: string;
      if (value[i] === '"') {
        i++;
        let text = '';
        for (;;) {
          if (i >= n) return undefined;
          const c = value[i] as string;
          if (c === '"') break;
          if (c === '\\') {
            i++;
            if (i >= n) return undefined;
          }
          text += value[i];
          i++;
        }
        i++;
        v = text;
      } else {
        const start = i;
        while (i < n && TCHAR.test(value[i] as string)) i++;
        v = value.slice(start, i);
        if (v === '') return undefined;
      }
      // The first of a repeated parameter counts (RFC 7239 forbids repeating one).
      if (name === 'for' && current.for === undefined) current.for = nodeAddress(v);
      else if (name === 'proto' && current.proto === undefined) current.proto = v;
    }
    skipSpace();
    if (i >= n) break;
    const sep = value[i];
    i++;
    if (sep === ',') {
      elements.push(current);
      current = {};
    } else if (sep !== ';') return undefined;
  }
  elements.push(current);
  return elements;
}
