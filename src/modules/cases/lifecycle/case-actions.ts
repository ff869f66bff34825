import { randomUUID } from 'node:crypto';
import type { PhiCipher } from '../../../crypto/phi.ts';
import type { Database, Queryable } from '../../../db/database.ts';
import { ApiError } from '../../../http/api-error.ts';
import type { Scope, Tenant } from '../../../http/gate.ts';
import { isUuid } from '../../../uuid.ts';
import { parseFileList, type FileLimits, type IncomingFile } from '../question-types/files.ts';
import type { FileStorage } from '../../files/storage.ts';
import { validationError } from '../validation.ts';
import { recordCaseEvent } from './events.ts';
import type { CaseStatus } from './read-repository.ts';

/** The actions of POST /api/v1/cases/:caseId, as a client names them. */
export const CASE_ACTIONS = ['CHANGE_CASE_STATUS', 'ADD_COMMUNICATION'] as const;
/** The targets of CHANGE_CASE_STATUS. */
export const STATUS_TARGETS = ['OPEN', 'CLOSE', 'REOPEN'] as const;
export type StatusTarget = (typeof STATUS_TARGETS)[number];

/**
 * The answer to any action on a case the calling key cannot act on: an unknown id, a malformed one and
 * another organization's case answer alike (the Change Case Status page gives 401 for the last).
 */
export const CASE_NOT_ACCESSIBLE = 'Case not found or not accessible with this API key';

/**
 * Thrown for CASE_NOT_ACCESSIBLE. Its own class: the error handler answers a plain 401 ApiError as a refused
 * key, and the case actions route answers this one with its message.
 */
export class CaseNotAccessibleError extends ApiError {
  constructor() {
    super(401, CASE_NOT_ACCESSIBLE);
  }
}
export const CASE_CLOSED = 'Case is closed: reopen it (status REOPEN) first';

export const STATUS_MESSAGES: Record<StatusTarget, string> = {
  OPEN: 'Case opened successfully',
  CLOSE: 'Case closed successfully',
  REOPEN: 'Case reopened successfully',
};

/** The state of a case an action reads, locked for the action's transaction. */
interface LockedCase {
  id: string;
  status: CaseStatus;
  is_archived: boolean;
  assignee_staff_id: string | null;
  archive_reason: string | null;
  archive_note: string | null;
}

export interface Communication {
  text: string;
  isRestricted?: boolean | undefined;
  webhookNotify?: boolean | undefined;
  author?: { email: string; firstName?: string | undefined; lastName?: string | undefined } | undefined;
  attachments?:
    | { fileName: string; content: string; isPHI?: boolean | undefined; isRestricted?: boolean | undefined }[]
    | undefined;
}

export interface AddedCommunication {
  commentId: string;
  attachments: { id: string; fileName: string }[];
}

/** Text of a comment, a close reason or an author: NUL is refused (PostgreSQL text cannot hold it). */
export function checkText(value: string | undefined, fieldPath: string, required: boolean): string | undefined {
  if (value === undefined) {
    if (required) throw validationError(fieldPath, 'Required');
    return undefined;
  }
  if (value.includes('\u0000')) throw validationError(fieldPath, 'Must not contain NUL characters');
  if (required && value.trim() === '') throw validationError(fieldPath, 'Required');
  return value;
}

/** A row of case_comments, as the partner's ADD_COMMUNICATION and the staff API's comments both write it. */
export interface NewComment {
  id: string;
  organizationId: string;
  caseId: string;
  /** The text, sealed with the PHI key (PhiCipher.encryptText). */
  sealedText: string;
  isRestricted: boolean;
  webhookNotify: boolean;
  /** The published author object as JSON text, or null. */
  authorJson: string | null;
  /** The staff member who wrote it; null for a partner's comment. */
  staffId: string | null;
}

/** Stores a comment in the change's transaction (the caller locks the case and records the event). */
export async function insertComment(tx: Queryable, comment: NewComment): Promise<void> {
  await tx.query(
    `insert into case_comments (id, organization_id, case_id, encrypted_text, is_restricted, webhook_notify, author,
                                staff_id)
     values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`,
    [
      comment.id,
      comment.organizationId,
      comment.caseId,
      comment.sealedText,
      comment.isRestricted,
      comment.webhookNotify,
      comment.authorJson,
      comment.staffId,
    ],
  );
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * The changes a partner makes to a case after intake (POST /api/v1/cases/:caseId): status changes and
 * comments. Each runs in one transaction that locks the case row first, so two concurrent changes of one
 * case take turns: the second sees the state the first produced. Every change writes its case event in that
 * transaction.
 */
export class CaseActionService {
  constructor(
    private readonly deps: {
      db: Database;
      cipher: PhiCipher;
      fileStorage: FileStorage;
      fileLimits: FileLimits;
      /**
       * Called once an ABANDONED case set to OPEN has committed (auto-assignment:
       * src/modules/staff/auto-assignment.ts); it answers for its own failures.
       */
      onCaseOpened?: (tenant: Tenant, caseId: string) => Promise<unknown>;
    },
  ) {}

  /** The case row of this organization, locked until the transaction ends; 401 when there is none. */
  private async lock(tx: Queryable, tenant: Tenant, caseId: string): Promise<LockedCase> {
    if (!isUuid(caseId)) throw new CaseNotAccessibleError();
    const { rows } = await tx.query<LockedCase>(
      `select id, status, is_archived, assignee_staff_id, archive_reason, archive_note
         from cases where organization_id = $1 and id = $2 for update`,
      [tenant.organizationId, caseId],
    );
    if (!rows[0]) throw new CaseNotAccessibleError();
    return rows[0];
  }

  /**
   * CHANGE_CASE_STATUS: OPEN (from ASSIGNED, ABANDONED, or OPEN already), CLOSE (archives, with `reason` as
   * the archive note), REOPEN (unarchives, clearing the archive reason and note). A closed case takes REOPEN
   * only. Returns the 200 message.
   */
  async changeStatus(scope: Scope, caseId: string, target: StatusTarget, reason: string | undefined): Promise<string> {
    const actor = { kind: 'api_key' as const, id: scope.apiKeyId };
    let openedFromAbandoned = false;
    await this.deps.db.transaction(async (tx) => {
      const current = await this.lock(tx, scope.tenant, caseId);
      const before = { status: current.status, isArchived: current.is_archived };
      const event = { organizationId: scope.organizationId, caseId, actor, before };
      if (target === 'REOPEN') {
        if (!current.is_archived) throw new ApiError(400, 'Case is not closed: only a closed case can be reopened');
        await tx.query(
          `update cases set is_archived = false, archive_reason = null, archive_note = null,
                  updated_at = now(), version = version + 1
            where organization_id = $1 and id = $2`,
          [scope.organizationId, caseId],
        );
        await recordCaseEvent(tx, {
          ...event,
          type: 'case.reopened',
          before: { ...before, archiveReason: current.archive_reason },
          after: { status: current.status, isArchived: false },
        });
        return;
      }
      if (current.is_archived) throw new ApiError(400, target === 'CLOSE' ? 'Case is already closed' : CASE_CLOSED);
      if (target === 'CLOSE') {
        await tx.query(
          `update cases set is_archived = true, archive_note = $3, closed_at = now(), closed_by = $4,
                  updated_at = now(), version = version + 1
            where organization_id = $1 and id = $2`,
          [scope.organizationId, caseId, reason ?? null, scope.apiKeyId],
        );
        await recordCaseEvent(tx, {
          ...event,
          type: 'case.archived',
          after: { status: current.status, isArchived: true, closedBy: scope.apiKeyId },
        });
        return;
      }
      // OPEN: already open is a success that changes nothing (and records nothing).
      if (current.status === 'OPEN') return;
      if (current.status !== 'ASSIGNED' && current.status !== 'ABANDONED') {
        throw new ApiError(400, `A case with status ${current.status} can't be opened`);
      }
      // Back in the queue: the staff assignee, if any, is removed with it (the partner case names nobody).
      await tx.query(
        `update cases set status = 'OPEN', assigned_at = null, assignee_staff_id = null, assigned_by_staff_id = null,
                updated_at = now(), version = version + 1
          where organization_id = $1 and id = $2`,
        [scope.organizationId, caseId],
      );
      const after = { status: 'OPEN', isArchived: false };
      if (current.assignee_staff_id !== null) {
        await recordCaseEvent(tx, {
          ...event,
          type: 'case.assignee_removed',
          after,
          subject: { assigneeId: current.assignee_staff_id },
        });
      }
      await recordCaseEvent(tx, { ...event, type: 'case.status_changed', after });
      openedFromAbandoned = current.status === 'ABANDONED';
    });
    if (openedFromAbandoned && this.deps.onCaseOpened) await this.deps.onCaseOpened(scope.tenant, caseId);
    return STATUS_MESSAGES[target];
  }

  /**
   * ADD_COMMUNICATION: a comment with optional attachments. The text is sealed with the PHI key and the
   * attachments' bytes go to the file storage, sealed like intake files; all in one transaction with the
   * comment's event, so a refused or failed request writes nothing.
   */
  async addCommunication(scope: Scope, caseId: string, communication: Communication): Promise<AddedCommunication> {
    const text = checkText(communication.text, 'communication.text', true)!;
    const author = communication.author;
    if (author) {
      checkText(author.email, 'communication.author.email', true);
      if (!EMAIL.test(author.email.trim())) throw validationError('communication.author.email', 'Invalid email');
      checkText(author.firstName, 'communication.author.firstName', false);
      checkText(author.lastName, 'communication.author.lastName', false);
    }
    const files = this.attachmentsOf(communication.attachments ?? []);
    const isRestricted = communication.isRestricted ?? false;
    const webhookNotify = communication.webhookNotify ?? true;
    const sealedText = await this.deps.cipher.encryptText(text);
    const authorJson = author
      ? JSON.stringify({
          email: author.email.trim().toLowerCase(),
          firstName: author.firstName ?? null,
          lastName: author.lastName ?? null,
        })
      : null;
    const uploadedBy = author
      ? JSON.stringify({ firstName: author.firstName ?? null, lastName: author.lastName ?? null })
      : null;
    const commentId = randomUUID();

    await this.deps.db.transaction(async (tx) => {
      const current = await this.lock(tx, scope.tenant, caseId);
      if (current.is_archived) throw new ApiError(400, CASE_CLOSED);
      await insertComment(tx, {
        id: commentId,
        organizationId: scope.organizationId,
        caseId,
        sealedText,
        isRestricted,
        webhookNotify,
        authorJson,
        staffId: null,
      });
      for (const { file, isPHI, isRestricted: fileRestricted } of files) {
        const { storageKey } = await this.deps.fileStorage.put(tx, {
          tenant: scope.tenant,
          fileId: file.fileId,
          content: file.content,
        });
        await tx.query(
          `insert into case_attachments (id, organization_id, case_id, comment_id, file_name, content_type,
                                         size_bytes, sha256, storage_key, is_phi, is_restricted, uploaded_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)`,
          [
            file.fileId,
            scope.organizationId,
            caseId,
            commentId,
            file.name,
            file.contentType,
            file.size,
            file.sha256,
            storageKey,
            isPHI,
            fileRestricted,
            uploadedBy,
          ],
        );
      }
      await tx.query(
        'update cases set updated_at = now(), version = version + 1 where organization_id = $1 and id = $2',
        [scope.organizationId, caseId],
      );
      // The attachments of a comment travel with its event (the comment webhook carries them).
      await recordCaseEvent(tx, {
        organizationId: scope.organizationId,
        caseId,
        actor: { kind: 'api_key', id: scope.apiKeyId },
        type: 'case.comment_added',
        before: null,
        after: {
          commentId,
          isRestricted,
          webhookNotify,
          attachmentIds: files.map(({ file }) => file.fileId),
        },
        subject: { commentId },
        notify: webhookNotify,
      });
    });
    return { commentId, attachments: files.map(({ file }) => ({ id: file.fileId, fileName: file.name })) };
  }

  /**
   * Decodes and checks the attachments with the intake's file rules (signatures, limits). Every refusal is a
   * 400 naming the attachment's own fields: one over FILE_MAX_BYTES too, as the page's bad input.
   */
  private attachmentsOf(
    attachments: NonNullable<Communication['attachments']>,
  ): { file: Extract<IncomingFile, { kind: 'inline' }>; isPHI: boolean; isRestricted: boolean }[] {
    const limits = this.deps.fileLimits;
    const path = 'communication.attachments';
    if (attachments.length > limits.maxFilesPerAnswer) {
      throw validationError(path, `At most ${limits.maxFilesPerAnswer} attachments per comment`);
    }
    let files: IncomingFile[];
    try {
      files = parseFileList(
        attachments.map((attachment) => ({ name: attachment.fileName, data: attachment.content })),
        path,
        limits,
      );
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // The file rules name the intake's fields (name, data); an attachment's are fileName and content.
      const message = error.message.replace(/\.name: /, '.fileName: ').replace(/\.data: /, '.content: ');
      throw new ApiError(400, error.statusCode === 413 ? `Validation failed: ${path}: ${message}` : message);
    }
    let total = 0;
    return files.map((file, index) => {
      if (file.kind !== 'inline') throw validationError(`${path}.${index}.content`, 'Must be base64 content');
      total += file.size;
      if (total > limits.maxTotalBytes) {
        throw validationError(path, `The attachments together exceed the limit of ${limits.maxTotalBytes} bytes`);
      }
      return {
        file,
        isPHI: attachments[index]!.isPHI ?? false,
        isRestricted: attachments[index]!.isRestricted ?? false,
      };
    });
  }
}
