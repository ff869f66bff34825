import type { Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';
import type { PhiCipher } from '../../crypto/phi.ts';

/**
 * Where the bytes of inline (base64) files go. `put` runs inside the intake transaction, so a failed
 * intake leaves no file behind; the returned storage key is kept on the files row.
 */
export interface FileStorage {
  put(tx: Queryable, file: { tenant: Tenant; fileId: string; content: Buffer }): Promise<{ storageKey: string }>;
  get(db: Queryable, file: { tenant: Tenant; storageKey: string }): Promise<Buffer | null>;
  /** Several files of one organization at once (a page of cases); a key not found is left out. */
  getMany(db: Queryable, tenant: Tenant, storageKeys: string[]): Promise<Map<string, Buffer>>;
}

/** The default: file contents in the database (table file_contents), always encrypted with the PHI key. */
export class DatabaseFileStorage implements FileStorage {
  constructor(private readonly cipher: PhiCipher) {}

  async put(tx: Queryable, file: { tenant: Tenant; fileId: string; content: Buffer }) {
    const storageKey = `db:${file.fileId}`;
    const sealed = await this.cipher.encryptBytes(file.content);
    await tx.query('insert into file_contents (storage_key, organization_id, content) values ($1, $2, $3)', [
      storageKey,
      file.tenant.organizationId,
      sealed,
    ]);
    return { storageKey };
  }

  async get(db: Queryable, file: { tenant: Tenant; storageKey: string }): Promise<Buffer | null> {
    const { rows } = await db.query<{ content: Uint8Array }>(
      'select content from file_contents where organization_id = $1 and storage_key = $2',
      [file.tenant.organizationId, file.storageKey],
    );
    const row = rows[0];
    return row ? this.cipher.decryptBytes(Buffer.from(row.content)) : null;
  }

  async getMany(db: Queryable, tenant: Tenant, storageKeys: string[]): Promise<Map<string, Buffer>> {
    const contents = new Map<string, Buffer>();
    if (storageKeys.length === 0) return contents;
    const { rows } = await db.query<{ storage_key: string; content: Uint8Array }>(
      'select storage_key, content from file_contents where organization_id = $1 and storage_key = any($2::text[])',
      [tenant.organizationId, storageKeys],
    );
    for (const row of rows) contents.set(row.storage_key, await this.cipher.decryptBytes(Buffer.from(row.content)));
    return contents;
  }
}
