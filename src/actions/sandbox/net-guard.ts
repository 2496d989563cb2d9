/**
 * SSRF guard for the guest's fetch: which addresses an action may reach.
 *
 * Loopback, private (RFC 1918), CGNAT, unique-local, link-local, multicast and other
 * non-public ranges are refused AFTER DNS resolution, unless the request's host (`host` or
 * `host:port`) is listed in GATEHOUSE_ACTIONS_FETCH_ALLOW. The address that passed the check is
 * the one connected to (see fetch.ts: the check runs inside the socket's `lookup`), so DNS
 * rebinding between check and connect is not possible.
 */
import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata lives here)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated)
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (ULA)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) blocked.addSubnet(net, prefix, 'ipv6');

function embeddedIPv4(ip: string): string | null {
  // ::ffff:a.b.c.d (IPv4-mapped), 64:ff9b::a.b.c.d (NAT64), 2002:AABB:CCDD:: (6to4), in any spelling.
  const words = expandIPv6(ip);
  if (!words) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return v4(words[6], words[7]);
  if (words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0)) return v4(words[6], words[7]);
  if (words[0] === 0x2002) return v4(words[1], words[2]);
  return null;
}

function expandIPv6(ip: string): number[] | null {
  let s = ip.toLowerCase();
  const pct = s.indexOf('%');
  if (pct !== -1) s = s.slice(0, pct);
  // trailing dotted IPv4
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    const p = m[2].split('.').map(Number);
    if (p.some((x) => x > 255)) return null;
    s = m[1] + ((p[0] << 8) | p[1]).toString(16) + ':' + ((p[2] << 8) | p[3]).toString(16);
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? head.length !== 8 : fill < 0) return null;
  const words = [...head, ...Array(halves.length === 2 ? fill : 0).fill('0'), ...tail].map((w) => parseInt(w, 16));
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : null;
}

/** True when `ip` (a literal IPv4/IPv6 address) is not a public unicast address. Non-IPs are blocked. */
export function isBlockedAddress(ip: string): boolean {
  const addr = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const fam = isIP(addr);
  if (fam === 4) return blocked.check(addr, 'ipv4');
  if (fam === 6) {
    const v4 = embeddedIPv4(addr);
    if (v4 !== null && blocked.check(v4, 'ipv4')) return true;
    const bare = addr.includes('%') ? addr.slice(0, addr.indexOf('%')) : addr;
    return blocked.check(bare, 'ipv6');
  }
  return true;
}

/**
 * Parsed GATEHOUSE_ACTIONS_FETCH_ALLOW: entries `host` (any port) or `host:port`, IPv6 in
 * brackets. `issuer`: the server's own token endpoint and Management API, reachable wherever the
 * issuer lives (see issuerAllowance).
 */
export interface FetchAllowList { hosts: Set<string>; hostPorts: Set<string>; issuer?: IssuerAllowance }
export interface IssuerAllowance { protocol: string; hostPort: string; tokenPath: string; apiPrefix: string }

/**
 * What of the issuer actions may reach on a loopback or private address: its token endpoint and
 * its Management API (`require('auth0')`'s clients call their own tenant, a development server on
 * localhost included), at the issuer's scheme, host, port and path; nothing else on that host.
 */
export function issuerAllowance(issuer: string): IssuerAllowance | undefined {
  let u: URL;
  try { u = new URL(issuer); } catch { return undefined; }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1).toLowerCase() : u.hostname.toLowerCase();
  const base = u.pathname.replace(/\/+$/, '');
  return { protocol: u.protocol, hostPort: `${host}:${u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80}`, tokenPath: `${base}/oauth/token`, apiPrefix: `${base}/api/v2/` };
}

export function parseFetchAllow(entries: readonly string[] | undefined): FetchAllowList {
  const list: FetchAllowList = { hosts: new Set(), hostPorts: new Set() };
  for (const raw of entries ?? []) {
    const e = String(raw).trim().toLowerCase();
    if (!e) continue;
    const m = /^(\[[0-9a-f:.]+\]|[^:[\]/\s]+)(?::(\d{1,5}))?$/.exec(e);
    if (!m) continue;
    const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1];
    if (m[2] === undefined) list.hosts.add(host);
    else list.hostPorts.add(`${host}:${Number(m[2])}`);
  }
  return list;
}

/** Whether a request to `url` may reach non-public addresses. */
export function isAllowedHost(list: FetchAllowList, url: URL): boolean {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1).toLowerCase() : url.hostname.toLowerCase();
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  if (list.hosts.has(host) || list.hostPorts.has(`${host}:${port}`)) return true;
  const iss = list.issuer;
  if (iss === undefined || url.protocol !== iss.protocol || `${host}:${port}` !== iss.hostPort) return false;
  // The URL parser has resolved dot segments; an encoded slash, backslash or dot would be read
  // by the server behind it, not here: not the issuer's paths then.
  if (/%2f|%5c|%2e|\\/i.test(url.pathname)) return false;
  return url.pathname === iss.tokenPath || url.pathname.startsWith(iss.apiPrefix);
}

/** A refusal by this guard (its message says why, and names no more than the host). */
export class AddressRefused extends Error {}

/**
 * The socket `lookup` that applies the guard to every address a name resolves to (the address
 * that passed is the one connected to); `allowed`: the host is listed, any address goes.
 */
export function guardedLookup(allowed: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return (callback as (e: Error | null, a?: unknown, f?: number) => void)(err);
      const ok = allowed ? addresses : addresses.filter((a) => !isBlockedAddress(a.address));
      const cb = callback as (e: Error | null, a?: unknown, f?: number) => void;
      if (ok.length === 0) return cb(new AddressRefused(`${hostname} resolves to a loopback, private or link-local address`));
      if (options.all) return cb(null, ok);
      return cb(null, ok[0].address, ok[0].family);
    });
  };
}
