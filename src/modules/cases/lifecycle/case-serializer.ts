import type { PhiCipher } from '../../../crypto/phi.ts';
import type { Queryable } from '../../../db/database.ts';
import type { Tenant } from '../../../http/gate.ts';
import { centsToDollars } from '../../../money.ts';
import type { FileStorage } from '../../files/storage.ts';
import type {
  CaseFileRecord,
  CaseRecord,
  CaseRecordsInclude,
  CaseRow,
  CaseStatus,
  CommentRecord,
  DecisionRecord,
  FormResponseRecord,
  PaymentRecord,
  StaffName,
} from './read-repository.ts';
import type { DownloadLinkSigner } from './signed-urls.ts';

/** What a case read includes beyond the case itself (the query flags of the case detail and the case list). */
export interface CaseReadOptions {
  includeAttachments: boolean;
  /** How attachments carry their bytes: `content` (base64) or `url` (a signed link valid 15 minutes). */
  documentFormat: 'base64' | 'url';
  includeOrders: boolean;
  includeCalendarEvents: boolean;
  includeCaseProducts: boolean;
  /** Staff reads only: the clinic's internal notes (restricted staff comments), never shown to the partner. */
  includeInternalNotes?: boolean;
}

/** The reader of a case: its organization and the API key the read is made for (signed links name it). */
export interface CaseReader {
  tenant: Tenant;
  apiKeyId: string;
  /** Where this server was reached (`https://host`): download links are absolute URLs to it. */
  baseUrl: string;
  /** A staff member's read: `apiKeyId` is their staff id, and download links are staff links (signed-urls.ts). */
  staff?: boolean;
}

export interface SerializedAttachment {
  id: string;
  fileName: string;
  contentType: string;
  size: number | null;
  isPHI: boolean;
  isRestricted: boolean;
  isDeleted: boolean;
  createdAt: string;
  uploadedBy: Record<string, unknown> | null;
  content?: string | null;
  url?: string;
}

/** A case as the partner API shows it (the case detail, the case list). */
export interface SerializedCase {
  id: string;
  organizationId: string;
  type: string | null;
  title: string | null;
  status: CaseStatus;
  shortId: string;
  createdAt: string;
  updatedAt: string;
  assignedAt: string | null;
  inProgressAt: string | null;
  closedAt: string | null;
  closedBy: string | null;
  inProgressBy: string | null;
  isArchived: boolean;
  isEscalated: boolean;
  isImported: boolean;
  referralCode: string | null;
  archiveReason: 'COMPLETE' | 'INELIGIBLE' | null;
  archiveNote: string | null;
  productBundleId: string | null;
  productBundle: { id: string; name: string } | null;
  submitter: {
    id: string;
    email: string;
    firstName: string;
    lastName: string;
    dob: string | null;
    gender: string | null;
    phoneNumber: string | null;
  };
  assignedTo: StaffName | null;
  assignedBy: StaffName | null;
  /** The published list of assignees; a case has one assignee at a time, so it holds that one or none. */
  assignees: { assignee: StaffName }[];
  responses: {
    id: string;
    createdAt: string;
    form: { id: string; name: string; description: string | null };
    responses: {
      id: string;
      question: {
        id: string;
        index: number;
        type: string;
        text: string;
        isPHI: boolean;
        required: boolean;
        options: unknown[];
        hint: string | null;
        placeholder: string | null;
      };
      answer: unknown;
      text: string;
    }[];
  }[];
  decisions: {
    id: string;
    isApproved: boolean;
    isNoDecision: boolean;
    startDate: string | null;
    endDate: string | null;
    decisionText: string | null;
    category: string | null;
    visitType: string | null;
    createdAt: string;
    addedBy: Record<string, unknown> | null;
    medInfo: unknown[];
  }[];
  comments: {
    id: string;
    text: string;
    isRestricted: boolean;
    createdAt: string;
    author: Record<string, unknown> | null;
    attachments: SerializedAttachment[];
  }[];
  attachments: SerializedAttachment[];
  payments: {
    id: string;
    amount: number;
    currency: string;
    status: string;
    description: string | null;
    createdAt: string;
  }[];
  orders?: never[];
  calendarEvents?: never[];
  caseProducts?: never[];
}

/**
 * An answer as one line of text (the `text` of a response, as the legacy webhook payload gives it): lists
 * joined with commas, a date range by the text it was given as, a file by its name.
 */
function answerText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map(answerText).join(', ');
  const object = value as Record<string, unknown>;
  if (typeof object.text === 'string') return object.text;
  if (typeof object.name === 'string') return object.name;
  return JSON.stringify(value);
}

const iso = (value: Date | null): string | null => (value ? value.toISOString() : null);

/** A time of a record (JSON text with microseconds) as the case's own times are given: milliseconds, UTC. */
const isoOfJson = (value: string): string => new Date(value).toISOString();

/** What the case reads must gather for these options (the repository's include flags). */
export function recordsToInclude(options: CaseReadOptions): CaseRecordsInclude {
  return { files: options.includeAttachments, internalNotes: options.includeInternalNotes === true };
}

function groupBy<Row>(rows: Row[], keyOf: (row: Row) => string): Map<string, Row[]> {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  return groups;
}

/**
 * The one case serializer: shapes cases read with their records (CaseReadRepository.findCases and listPage,
 * one statement whatever the number of cases) with the field names of the published case detail and webhook
 * case object. PHI (answers, comment texts, files) is decrypted here and nowhere else; callers audit every read
 * that returns it.
 */
export class CaseSerializer {
  constructor(
    private readonly deps: {
      cipher: PhiCipher;
      fileStorage: FileStorage;
      signer: DownloadLinkSigner;
    },
  ) {}

  /**
   * The cases in the order given, read with `recordsToInclude(options)`; rows of another organization must not
   * be passed (the repository scopes). `db` reads the files' bytes when they are sent as base64.
   */
  async serialize(
    db: Queryable,
    reader: CaseReader,
    cases: CaseRecord[],
    options: CaseReadOptions,
  ): Promise<SerializedCase[]> {
    if (cases.length === 0) return [];
    const contents =
      options.includeAttachments && options.documentFormat === 'base64'
        ? await this.deps.fileStorage.getMany(
            db,
            reader.tenant,
            cases.flatMap((row) =>
              row.files.flatMap((file) => (file.storage_key && !file.is_deleted ? [file.storage_key] : [])),
            ),
          )
        : new Map<string, Buffer>();

    const serialized: SerializedCase[] = [];
    for (const row of cases) {
      const filesByOwner = groupBy(options.includeAttachments ? row.files : [], (file) => file.comment_id ?? '');
      const attachmentsOf = (owner: string) =>
        Promise.all((filesByOwner.get(owner) ?? []).map((file) => this.attachment(reader, file, options, contents)));
      const responses = [];
      for (const response of row.form_responses) responses.push(await this.formResponse(response));
      const comments = [];
      for (const comment of row.comments) comments.push(await this.comment(comment, await attachmentsOf(comment.id)));
      serialized.push({
        ...this.caseFields(row),
        responses,
        decisions: row.decisions.map((decision) => this.decision(decision)),
        comments,
        attachments: await attachmentsOf(''),
        payments: row.payments.map((payment) => this.payment(payment)),
        // Orders, calendar events and case products do not exist on this server yet: asked for, they are empty.
        ...(options.includeOrders ? { orders: [] } : {}),
        ...(options.includeCalendarEvents ? { calendarEvents: [] } : {}),
        ...(options.includeCaseProducts ? { caseProducts: [] } : {}),
      });
    }
    return serialized;
  }

  private caseFields(
    row: CaseRow,
  ): Omit<SerializedCase, 'responses' | 'decisions' | 'comments' | 'attachments' | 'payments'> {
    return {
      id: row.id,
      organizationId: row.organization_id,
      type: row.type,
      title: row.title,
      status: row.status,
      shortId: row.short_id,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
      assignedAt: iso(row.assigned_at),
      inProgressAt: iso(row.in_progress_at),
      closedAt: iso(row.closed_at),
      closedBy: row.closed_by,
      inProgressBy: null,
      isArchived: row.is_archived,
      isEscalated: row.is_escalated,
      isImported: false,
      referralCode: null,
      archiveReason: row.archive_reason,
      archiveNote: row.archive_note,
      productBundleId: row.product_bundle_id,
      productBundle:
        row.product_bundle_id && row.product_bundle_name !== null
          ? { id: row.product_bundle_id, name: row.product_bundle_name }
          : null,
      submitter: {
        id: row.patient_id,
        email: row.patient_email,
        firstName: row.patient_first_name,
        lastName: row.patient_last_name,
        dob: row.patient_dob,
        gender: row.patient_gender,
        phoneNumber: row.patient_phone_number,
      },
      assignedTo: row.assigned_to,
      assignedBy: row.assigned_to ? row.assigned_by : null,
      assignees: row.assigned_to ? [{ assignee: row.assigned_to }] : [],
    };
  }

  private async formResponse(response: FormResponseRecord): Promise<SerializedCase['responses'][number]> {
    const items = [];
    for (const answer of response.answers) {
      const value =
        answer.encrypted_value !== null
          ? (JSON.parse(await this.deps.cipher.decryptText(answer.encrypted_value)) as unknown)
          : answer.value;
      items.push({
        id: answer.id,
        question: {
          id: answer.question_id,
          index: answer.position,
          type: answer.question_type,
          text: answer.question,
          isPHI: answer.phi || answer.encrypted_value !== null,
          required: answer.required,
          options: answer.options,
          hint: answer.hint,
          placeholder: answer.placeholder,
        },
        answer: value,
        text: answerText(value),
      });
    }
    return {
      id: response.id,
      createdAt: isoOfJson(response.created_at),
      form: { id: response.form_id, name: response.form_title, description: response.form_description },
      responses: items,
    };
  }

  private decision(row: DecisionRecord): SerializedCase['decisions'][number] {
    return {
      id: row.id,
      isApproved: row.is_approved,
      isNoDecision: row.is_no_decision,
      startDate: row.start_date,
      endDate: row.end_date,
      decisionText: row.decision_text,
      category: row.category,
      visitType: row.visit_type,
      createdAt: isoOfJson(row.created_at),
      addedBy: row.added_by,
      medInfo: row.med_info,
    };
  }

  private async comment(
    row: CommentRecord,
    attachments: SerializedAttachment[],
  ): Promise<SerializedCase['comments'][number]> {
    return {
      id: row.id,
      text: await this.deps.cipher.decryptText(row.encrypted_text),
      isRestricted: row.is_restricted,
      createdAt: isoOfJson(row.created_at),
      author: row.author,
      attachments,
    };
  }

  private async attachment(
    reader: CaseReader,
    file: CaseFileRecord,
    options: CaseReadOptions,
    contents: Map<string, Buffer>,
  ): Promise<SerializedAttachment> {
    const fields = {
      id: file.id,
      fileName: file.file_name,
      contentType: file.content_type,
      size: file.size_bytes,
      isPHI: file.is_phi,
      isRestricted: file.is_restricted,
      isDeleted: file.is_deleted,
      createdAt: isoOfJson(file.created_at),
      uploadedBy: file.uploaded_by,
    };
    // A file sent as a URL at intake was never fetched: its own URL is all there is, in either format.
    if (file.url !== null) return { ...fields, url: file.url };
    if (file.is_deleted || file.storage_key === null) return { ...fields, content: null };
    if (options.documentFormat === 'url') {
      const path = await this.deps.signer.url({
        organizationId: reader.tenant.organizationId,
        apiKeyId: reader.apiKeyId,
        fileId: file.id,
        staff: reader.staff === true,
      });
      return { ...fields, url: `${reader.baseUrl}${path}` };
    }
    return { ...fields, content: contents.get(file.storage_key)?.toString('base64') ?? null };
  }

  private payment(row: PaymentRecord): SerializedCase['payments'][number] {
    return {
      id: row.id,
      amount: centsToDollars(row.amount_cents),
      currency: row.currency,
      status: row.status,
      description: row.description,
      createdAt: isoOfJson(row.created_at),
    };
  }
}
