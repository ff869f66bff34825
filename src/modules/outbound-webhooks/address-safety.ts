import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Which addresses a webhook may be sent to. By default only public ones: a partner's URL must not reach the
 * server's own network (loopback, private ranges, link-local cloud metadata, ...). WEBHOOK_ALLOW_PRIVATE_NETWORKS
 * lifts that for development and tests.
 */
const NOT_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** True for an address on the public internet. IPv4-mapped IPv6 addresses are judged as the IPv4 they carry. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !NOT_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return !NOT_PUBLIC.check(mapped[1]!, 'ipv4');
  if (/^::ffff:/i.test(address)) return false; // a mapped address in hex form: refused rather than decoded
  return !NOT_PUBLIC.check(address, 'ipv6');
}

export class UnsafeWebhookUrlError extends Error {}

/** The host of a URL as a resolver or an address check wants it (IPv6 literals lose their brackets). */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** The rules a URL itself must follow (no resolution): scheme, no credentials, a literal address public. */
export function checkUrlShape(text: string, allowPrivateNetworks: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UnsafeWebhookUrlError('url must be an absolute URL');
  }
  const schemes = allowPrivateNetworks ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) {
    throw new UnsafeWebhookUrlError(allowPrivateNetworks ? 'url must be http or https' : 'url must be https');
  }
  if (url.username || url.password) throw new UnsafeWebhookUrlError('url must not carry credentials');
  const host = hostOf(url);
  if (!allowPrivateNetworks) {
    if (isIP(host) && !isPublicAddress(host)) throw new UnsafeWebhookUrlError('url must be a public address');
    if (host === 'localhost' || host.endsWith('.localhost')) {
      throw new UnsafeWebhookUrlError('url must be a public address');
    }
  }
  return url;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves a host and checks every address it has: the one connected to is one of these, so a name that
 * answers a public address to the check and a private one to the connection (DNS rebinding) gains nothing.
 */
export async function resolveSafely(host: string, allowPrivateNetworks: boolean): Promise<ResolvedAddress[]> {
  const literal = isIP(host);
  const addresses: ResolvedAddress[] = literal
    ? [{ address: host, family: literal as 4 | 6 }]
    : (await lookup(host, { all: true, verbatim: true })).map((entry) => ({
        address: entry.address,
        family: entry.family as 4 | 6,
      }));
  if (addresses.length === 0) throw new UnsafeWebhookUrlError(`${host} has no address`);
  if (!allowPrivateNetworks && addresses.some((entry) => !isPublicAddress(entry.address))) {
    throw new UnsafeWebhookUrlError(`${host} resolves to an address that is not public`);
  }
  return addresses;
}
