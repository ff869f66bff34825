import { createHmac, timingSafeEqual } from 'node:crypto';
import type { PhiCipher } from '../../../crypto/phi.ts';

/** How long a download link works: the published case detail promises 15 minutes. */
export const SIGNED_URL_LIFETIME_SECONDS = 15 * 60;

/** The path of the download route; the file id follows it. */
export const DOWNLOAD_PATH = '/api/v1/case-files';

/** The staff API's download route (under the staff session cookie's path). */
export const STAFF_DOWNLOAD_PATH = '/staff/v1/case-files';

/**
 * What a download link is bound to: one file of one organization, issued to one API key (or, for a staff link, one
 * staff member), until `expires`.
 */
export interface SignedFile {
  organizationId: string;
  /** The API key the link is issued to; for a staff link, the staff member's id. */
  apiKeyId: string;
  fileId: string;
  /** Unix seconds. */
  expires: number;
  /** A staff link (the console's): under /staff, naming `staffId`, and good only with that member's session. */
  staff?: boolean;
}

/**
 * Signed download links for case files: `/api/v1/case-files/<fileId>?organizationId=..&apiKeyId=..&expires=..
 * &signature=..`, the signature an HMAC-SHA256 (base64url) over all four values under a key derived from the
 * PHI key. Changing any value (another file, a later expiry) breaks the signature.
 */
export class DownloadLinkSigner {
  private key: Promise<Buffer> | undefined;

  constructor(
    private readonly cipher: PhiCipher,
    private readonly now: () => number = Date.now,
  ) {}

  async url(file: Omit<SignedFile, 'expires'>): Promise<string> {
    const signed = { ...file, expires: Math.floor(this.now() / 1000) + SIGNED_URL_LIFETIME_SECONDS };
    const query = new URLSearchParams({
      organizationId: signed.organizationId,
      [file.staff ? 'staffId' : 'apiKeyId']: signed.apiKeyId,
      expires: String(signed.expires),
      signature: await this.signature(signed),
    });
    return `${file.staff ? STAFF_DOWNLOAD_PATH : DOWNLOAD_PATH}/${encodeURIComponent(file.fileId)}?${query}`;
  }

  /** Whether the link is ours, unchanged and not expired. */
  async verify(file: SignedFile, signature: string): Promise<boolean> {
    if (!Number.isSafeInteger(file.expires) || file.expires * 1000 < this.now()) return false;
    const expected = Buffer.from(await this.signature(file), 'base64url');
    const given = Buffer.from(signature, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async signature(file: SignedFile): Promise<string> {
    this.key ??= this.cipher.derivedKey('case file download links');
    // A staff link signs one more line: it can never pass for a partner's link to the same ids, nor the reverse.
    const payload = [
      file.organizationId,
      file.apiKeyId,
      file.fileId,
      String(file.expires),
      ...(file.staff ? ['staff'] : []),
    ].join('\n');
    return createHmac('sha256', await this.key)
      .update(payload)
      .digest('base64url');
  }
}
