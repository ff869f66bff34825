import type { Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';

/** A received file as the files table records it: inline content (stored apart) or an http(s) reference. */
export type FileDescription =
  | { kind: 'inline'; fileId: string; name: string; contentType: string; size: number; sha256: string }
  | { kind: 'url'; fileId: string; name: string; contentType: string; url: string };

export interface FileRow {
  id: string;
  name: string;
  content_type: string;
  source: 'inline' | 'url';
  size_bytes: number | null;
  sha256: string | null;
  url: string | null;
  storage_key: string | null;
}

/** File metadata of one organization: every statement adds its condition. */
export class FileRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  async insert(
    file: FileDescription,
    owner: { patientId: string; formResponseId: string; answerId: string },
    storageKey: string | null,
  ): Promise<void> {
    await this.db.query(
      `insert into files (id, organization_id, patient_id, form_response_id, answer_id, name, content_type, source,
                          size_bytes, sha256, url, storage_key)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        file.fileId,
        this.organizationId,
        owner.patientId,
        owner.formResponseId,
        owner.answerId,
        file.name,
        file.contentType,
        file.kind,
        file.kind === 'inline' ? file.size : null,
        file.kind === 'inline' ? file.sha256 : null,
        file.kind === 'url' ? file.url : null,
        storageKey,
      ],
    );
  }

  async listByFormResponse(formResponseId: string): Promise<FileRow[]> {
    const { rows } = await this.db.query<FileRow>(
      `select id, name, content_type, source, size_bytes, sha256, url, storage_key
         from files where organization_id = $1 and form_response_id = $2 order by created_at, id`,
      [this.organizationId, formResponseId],
    );
    return rows;
  }
}
