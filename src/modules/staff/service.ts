import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { generateSecret, generateURI, verify as verifyTotp } from 'otplib';
import { hashPassword, verifyPassword } from '../../crypto/password.ts';
import type { PhiCipher } from '../../crypto/phi.ts';
import { isUniqueViolation, type Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { hashStaffToken, STAFF_TOKEN_PREFIX, type StaffSession, type StaffSessionCheck } from '../../http/gate.ts';
import { isUuid } from '../../uuid.ts';
import { StaffRepository, type StaffRow } from './repository.ts';
import type { StaffRole } from './roles.ts';

/** How long a set-password link works. */
export const SET_PASSWORD_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a session works (the access token and the cookie). */
export const SESSION_TTL_SECONDS = 12 * 60 * 60;
/** From this many failed sign-ins from one address to one account, each next try waits (1 s, 2 s, 4 s, ... to the cap). */
export const FREE_FAILURES = 5;
export const MAX_WAIT_SECONDS = 15 * 60;
/** Failures of a pair quiet this long are forgotten (its row deleted): far beyond the longest wait. */
export const THROTTLE_MEMORY_SECONDS = 24 * 60 * 60;
/** The shortest password accepted. */
export const MIN_PASSWORD_LENGTH = 12;

export const INVALID_CREDENTIALS = 'Invalid email or password';
export const TOTP_REQUIRED = 'A TOTP code is required for this account';

export interface CreateStaffInput {
  email: string;
  firstName: string;
  lastName: string;
  role: StaffRole;
  /** Omitted: every organization. */
  organizationIds?: string[];
  password?: string;
  title?: string;
  npi?: string;
  dea?: string;
  licensedStates?: string[];
}

/** A staff account as the API shows it: never a password hash or second-factor secret. */
export interface StaffView {
  staffId: string;
  email: string;
  firstName: string;
  lastName: string;
  role: StaffRole;
  organizationIds: string[] | null;
  title: string | null;
  npi: string | null;
  dea: string | null;
  licensedStates: string[];
  totpEnabled: boolean;
  hasPassword: boolean;
  disabled: boolean;
  createdAt: string;
}

export interface SetPasswordLink {
  /** Shown once; only its hash is stored. */
  token: string;
  expiresAt: string;
}

export type LoginOutcome =
  | { kind: 'signedIn'; accessToken: string; csrfToken: string; expiresIn: number; staff: StaffView }
  | { kind: 'throttled'; retryAfterSeconds: number }
  | { kind: 'refused'; message: string };

export function staffView(row: StaffRow): StaffView {
  return {
    staffId: row.id,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    role: row.role,
    organizationIds: row.all_organizations ? null : row.organization_ids,
    title: row.title,
    npi: row.npi,
    dea: row.dea,
    licensedStates: row.licensed_states,
    totpEnabled: row.totp_secret_encrypted !== null,
    hasPassword: row.password_hash !== null,
    disabled: row.disabled_at !== null,
    createdAt: row.created_at.toISOString(),
  };
}

const newToken = (prefix: string): string => `${prefix}${randomBytes(32).toString('base64url')}`;
const normalEmail = (email: string): string => email.trim().toLowerCase();

/** A hash of a fixed password, so that an unknown email costs a sign-in as much time as a known one. */
let decoyHash: Promise<string> | undefined;

/** Staff accounts, their sign-in and sessions (the gate reads sessions through `sessionOf`). */
export class StaffService implements StaffSessionCheck {
  readonly repository: StaffRepository;

  constructor(
    private readonly db: Database,
    private readonly cipher: PhiCipher,
    /** The clock of sign-in throttling and session expiry (tests move it). */
    private readonly now: () => number = Date.now,
  ) {
    this.repository = new StaffRepository(db);
  }

  async create(input: CreateStaffInput): Promise<{ staff: StaffView; setPassword: SetPasswordLink | null }> {
    const email = normalEmail(input.email);
    const organizationIds = input.organizationIds === undefined ? null : [...new Set(input.organizationIds)];
    if (organizationIds !== null) {
      if (organizationIds.length === 0) throw new ApiError(400, 'organizationIds: list at least one, or omit it');
      if (
        !organizationIds.every(isUuid) ||
        (await this.repository.existingOrganizations(organizationIds)) !== organizationIds.length
      ) {
        throw new ApiError(400, 'organizationIds: no such organization');
      }
    }
    const provider = input.role === 'PROVIDER';
    if (!provider && (input.npi || input.dea || (input.licensedStates?.length ?? 0) > 0)) {
      throw new ApiError(400, 'npi, dea and licensedStates are for the PROVIDER role');
    }
    if (input.password !== undefined) checkPassword(input.password);
    const id = randomUUID();
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
    let link: SetPasswordLink | null = null;
    try {
      await this.db.transaction(async (tx) => {
        await this.repository.insert(tx, {
          id,
          email,
          firstName: input.firstName,
          lastName: input.lastName,
          role: input.role,
          organizationIds,
          title: input.title ?? null,
          npi: input.npi ?? null,
          dea: input.dea ?? null,
          licensedStates: [...new Set((input.licensedStates ?? []).map((state) => state.trim().toUpperCase()))],
          passwordHash,
        });
        if (passwordHash === null) link = await this.issueLink(tx, id);
      });
    } catch (error) {
      if (isUniqueViolation(error, 'staff_members_email_unique')) {
        throw new ApiError(409, 'A staff member with this email exists');
      }
      throw error;
    }
    return { staff: staffView((await this.repository.byId(id))!), setPassword: link };
  }

  async list(): Promise<StaffView[]> {
    return (await this.repository.list()).map(staffView);
  }

  async get(staffId: string): Promise<StaffView | null> {
    const row = isUuid(staffId) ? await this.repository.byId(staffId) : null;
    return row ? staffView(row) : null;
  }

  /** Disables the account: its sessions end now and it cannot sign in again. */
  async disable(staffId: string): Promise<StaffView> {
    if (!isUuid(staffId) || !(await this.repository.disable(staffId)))
      throw new ApiError(404, 'Staff member not found');
    return staffView((await this.repository.byId(staffId))!);
  }

  /**
   * A new one-time set-password link. The current password keeps working until the link is used; using it
   * sets the new password and ends every session of the member.
   */
  async resetPassword(staffId: string): Promise<SetPasswordLink> {
    const row = isUuid(staffId) ? await this.repository.byId(staffId) : null;
    if (!row) throw new ApiError(404, 'Staff member not found');
    if (row.disabled_at) throw new ApiError(409, 'This staff member is disabled');
    return this.db.transaction((tx) => this.issueLink(tx, staffId));
  }

  async setPassword(token: string, password: string): Promise<void> {
    checkPassword(password);
    const passwordHash = await hashPassword(password);
    if (!(await this.repository.usePasswordToken(hashStaffToken(token), passwordHash))) {
      throw new ApiError(400, 'This set-password link is invalid, used or expired');
    }
  }

  /**
   * Signs a member in. Failures are counted per (email, client address): from FREE_FAILURES on each next try from
   * that address waits twice as long, so a guesser is slowed to a few tries an hour while the member, from
   * their own address, is not locked out. The wait is checked before the password, so a blocked guesser
   * learns nothing.
   */
  async login(input: { email: string; password: string; totpCode?: string; address: string }): Promise<LoginOutcome> {
    const email = normalEmail(input.email);
    const throttleKey = createHash('sha256').update(`${email}\n${input.address}`).digest('hex');
    const wait = await this.repository.throttleWait(throttleKey, new Date(this.now()));
    if (wait > 0) return { kind: 'throttled', retryAfterSeconds: wait };
    const row = await this.repository.byEmail(email);
    const passwordOk = row?.password_hash
      ? await verifyPassword(input.password, row.password_hash)
      : await verifyPassword(input.password, await (decoyHash ??= hashPassword(randomUUID()))).then(() => false);
    const refuse = async (message: string): Promise<LoginOutcome> => {
      const now = this.now();
      await this.repository.recordFailure(throttleKey, FREE_FAILURES, MAX_WAIT_SECONDS, new Date(now));
      // Each failure prunes the expired rows, so the table stays as small as the guessing of the last day.
      await this.repository.pruneThrottle(new Date(now - THROTTLE_MEMORY_SECONDS * 1000));
      return { kind: 'refused', message };
    };
    if (!row || !passwordOk || row.disabled_at) return refuse(INVALID_CREDENTIALS);
    if (row.totp_secret_encrypted) {
      // The password was right: asking for the code is no failure.
      if (!input.totpCode) return { kind: 'refused', message: TOTP_REQUIRED };
      const secret = await this.cipher.decryptText(row.totp_secret_encrypted);
      const step = await totpStep(secret, input.totpCode);
      // A code already used (a replay of an observed code) is refused like a wrong one.
      if (step === null || !(await this.repository.useTotpStep(row.id, step))) return refuse('Invalid TOTP code');
    }
    await this.repository.clearFailures(throttleKey);
    const accessToken = newToken(STAFF_TOKEN_PREFIX);
    const csrfToken = newToken('');
    await this.repository.insertSession({
      id: randomUUID(),
      tokenHash: hashStaffToken(accessToken),
      csrfHash: hashStaffToken(csrfToken),
      staffId: row.id,
      expiresAt: new Date(Date.now() + SESSION_TTL_SECONDS * 1000),
      clientAddress: input.address,
    });
    return { kind: 'signedIn', accessToken, csrfToken, expiresIn: SESSION_TTL_SECONDS, staff: staffView(row) };
  }

  async logout(sessionId: string): Promise<void> {
    await this.repository.revokeSession(sessionId);
  }

  async sessionOf(tokenHash: string): Promise<StaffSession | null> {
    const row = await this.repository.activeSession(tokenHash);
    if (!row) return null;
    return {
      sessionId: row.session_id,
      staffId: row.id,
      role: row.role,
      organizationIds: row.all_organizations ? null : row.organization_ids,
      licensedStates: row.licensed_states,
      csrfHash: row.csrf_hash,
      secondFactorMissing: row.totp_required && row.totp_secret_encrypted === null,
    };
  }

  /** A new TOTP secret for the member to load in an authenticator app; nothing is stored until it is confirmed. */
  async totpSetup(staffId: string): Promise<{ secret: string; otpauthUri: string }> {
    const row = (await this.repository.byId(staffId))!;
    const secret = generateSecret();
    return { secret, otpauthUri: generateURI({ issuer: 'care360', label: row.email, secret }) };
  }

  /** Turns the second factor on once a code from the secret proves the app has it. */
  async totpEnable(staffId: string, secret: string, code: string): Promise<void> {
    const step = await totpStep(secret, code);
    if (step === null) throw new ApiError(400, 'The code does not match this secret');
    await this.repository.setTotpSecret(staffId, await this.cipher.encryptText(secret), step);
  }

  private async issueLink(tx: Parameters<Parameters<Database['transaction']>[0]>[0], staffId: string) {
    const token = newToken('c360p_');
    const expiresAt = new Date(Date.now() + SET_PASSWORD_TTL_MS);
    await this.repository.insertPasswordToken(tx, hashStaffToken(token), staffId, expiresAt);
    return { token, expiresAt: expiresAt.toISOString() };
  }
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new ApiError(400, `password: at least ${MIN_PASSWORD_LENGTH} characters`);
  }
}

/** The 30-second step of a code of the current step or the one before (a clock a little behind), or null. */
async function totpStep(secret: string, code: string): Promise<number | null> {
  if (!/^\d{6}$/.test(code)) return null;
  try {
    const result = await verifyTotp({ secret, token: code, epochTolerance: [30, 0] });
    return result.valid && 'timeStep' in result ? result.timeStep : null;
  } catch {
    // A secret otplib refuses (too short, not Base32) matches no code.
    return null;
  }
}
