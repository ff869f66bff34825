import type { PhiCipher } from '../../../crypto/phi.ts';
import type { Database } from '../../../db/database.ts';
import { ApiError } from '../../../http/api-error.ts';
import { Tenant } from '../../../http/gate.ts';
import { isUuid } from '../../../uuid.ts';
import type { FileStorage } from '../../files/storage.ts';
import {
  CaseSerializer,
  recordsToInclude,
  type CaseReader,
  type CaseReadOptions,
  type SerializedCase,
} from './case-serializer.ts';
import { CaseReadRepository, type CaseDetailTarget, type CaseReadCheck, type CaseStatus } from './read-repository.ts';
import { DownloadLinkSigner } from './signed-urls.ts';

/** The longest date range one case list request may cover. */
export const MAX_LIST_RANGE_DAYS = 60;

export const CASE_NOT_FOUND = 'Case not found';
export const NO_CASE_FOR_EMAIL = 'No Case found for provided email!';
export const INVALID_CURSOR = "The 'after' cursor is not a case of this list";

export interface CaseListRequest {
  startTime: Date;
  endTime: Date;
  statuses: CaseStatus[] | undefined;
  after: string | undefined;
  recordsPerPage: number;
}

export interface CaseListPage {
  cases: SerializedCase[];
  pageInfo: {
    cursor: { start: string | null; end: string | null };
    hasNextPage: boolean;
    hasPreviousPage: boolean;
  };
}

/** The partner API's case reads: the case detail, the latest case of a customer, the case list, file downloads. */
export class CaseReadService {
  readonly signer: DownloadLinkSigner;
  /** The one case serializer, shared with the webhook payloads (webhook-payload.ts). */
  readonly serializer: CaseSerializer;

  constructor(
    private readonly deps: {
      db: Database;
      cipher: PhiCipher;
      fileStorage: FileStorage;
      now?: () => number;
    },
  ) {
    this.signer = new DownloadLinkSigner(deps.cipher, deps.now);
    this.serializer = new CaseSerializer({ cipher: deps.cipher, fileStorage: deps.fileStorage, signer: this.signer });
  }

  /**
   * One case by id, or the latest case of the customer with this email (both: that case, if it is theirs), in
   * one statement with the caller's key check and audit event (`check`, CaseReadRepository.readCase).
   */
  async detail(
    reader: CaseReader,
    target: { caseId?: string; email?: string },
    options: CaseReadOptions,
    check: CaseReadCheck = {},
  ): Promise<SerializedCase> {
    const { caseId, email } = target;
    let lookup: CaseDetailTarget | undefined;
    // An id that is not a UUID names no case: it answers as an unknown one.
    if (caseId !== undefined) lookup = isUuid(caseId) ? { caseId, email } : undefined;
    else if (email !== undefined) lookup = { email };
    const repository = new CaseReadRepository(this.deps.db, reader.tenant);
    const row = lookup ? await repository.readCase(lookup, recordsToInclude(options), check) : null;
    if (!row) throw new ApiError(404, caseId === undefined ? NO_CASE_FOR_EMAIL : CASE_NOT_FOUND);
    const [serialized] = await this.serializer.serialize(this.deps.db, reader, [row], options);
    return serialized!;
  }

  async latestCaseId(tenant: Tenant, email: string): Promise<string> {
    const caseId = await new CaseReadRepository(this.deps.db, tenant).latestCaseIdByEmail(email);
    if (caseId === null) throw new ApiError(404, NO_CASE_FOR_EMAIL);
    return caseId;
  }

  /**
   * One page of the organization's cases created in [startTime, endTime), oldest first. `after` is the last
   * case id of the previous page; an id that is not a case of this organization is refused like a malformed one.
   */
  async list(reader: CaseReader, request: CaseListRequest, options: CaseReadOptions): Promise<CaseListPage> {
    const repository = new CaseReadRepository(this.deps.db, reader.tenant);
    if (request.after !== undefined && !isUuid(request.after)) throw new ApiError(400, INVALID_CURSOR);
    const rows = await repository.listPage(
      {
        startTime: request.startTime,
        endTime: request.endTime,
        statuses: request.statuses,
        after: request.after,
        limit: request.recordsPerPage + 1,
      },
      recordsToInclude(options),
    );
    // An empty page after an unknown case is told apart from the end of the list by one look-up.
    if (rows.length === 0 && request.after !== undefined && !(await repository.afterCaseExists(request.after))) {
      throw new ApiError(400, INVALID_CURSOR);
    }
    const page = rows.slice(0, request.recordsPerPage);
    const cases = await this.serializer.serialize(this.deps.db, reader, page, options);
    return {
      cases,
      pageInfo: {
        cursor: { start: page[0]?.id ?? null, end: page[page.length - 1]?.id ?? null },
        hasNextPage: rows.length > request.recordsPerPage,
        hasPreviousPage: request.after !== undefined,
      },
    };
  }

  /** The bytes of a file a signed link names, or null when the link is not ours, was changed or has expired. */
  async download(
    link: { organizationId: string; apiKeyId: string; fileId: string; expires: number; staff?: boolean },
    signature: string,
  ): Promise<{ fileName: string; contentType: string; content: Buffer } | null> {
    if (!isUuid(link.organizationId) || !isUuid(link.fileId)) return null;
    if (!(await this.signer.verify(link, signature))) return null;
    // The verified link names the organization: the one way in that is not a caller's key.
    const tenant = Tenant.forOperator(link.organizationId, 'a signed download link');
    const file = await new CaseReadRepository(this.deps.db, tenant).storedFile(link.fileId);
    if (!file?.storage_key) return null;
    const content = await this.deps.fileStorage.get(this.deps.db, { tenant, storageKey: file.storage_key });
    return content ? { fileName: file.file_name, contentType: file.content_type, content } : null;
  }
}
