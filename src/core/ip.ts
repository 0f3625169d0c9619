/**
 * Client addresses: normalisation and the key used for per-IP limits. IPv4-mapped
 * IPv6 addresses count as IPv4; IPv6 addresses are grouped by their /64, since
 * one host usually owns a whole /64.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** `::ffff:1.2.3.4` → `1.2.3.4`; anything else unchanged (lower-cased). */
export function normalizeIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  return lower;
}

function expandIPv6(ip: string): string[] {
  const zone = ip.indexOf('%');
  const bare = zone === -1 ? ip : ip.slice(0, zone);
  const [head = '', tail] = bare.split('::', 2);
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0');
  return [...h, ...fill, ...t];
}

/** The rate-limit key of an address: the IPv4 address, or the IPv6 /64 prefix. */
export function ipKey(ip: string): string {
  if (!ip.includes(':')) return ip; // IPv4: the common case, no regex
  const n = normalizeIp(ip);
  if (isIPv6(n)) {
    const groups = expandIPv6(n);
    return `${groups
      .slice(0, 4)
      .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
      .join(':')}::/64`;
  }
  return n;
}
