import type { Database, Queryable } from '../../db/database.ts';
import type { StaffRole } from './roles.ts';

/** A staff account as stored (never returned as is: see staffView). */
export interface StaffRow {
  id: string;
  email: string;
  first_name: string;
  last_name: string;
  role: StaffRole;
  all_organizations: boolean;
  organization_ids: string[];
  title: string | null;
  npi: string | null;
  dea: string | null;
  licensed_states: string[];
  password_hash: string | null;
  totp_secret_encrypted: string | null;
  disabled_at: Date | null;
  created_at: Date;
}

export interface NewStaff {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  role: StaffRole;
  organizationIds: string[] | null;
  title: string | null;
  npi: string | null;
  dea: string | null;
  licensedStates: string[];
  passwordHash: string | null;
}

const STAFF_COLUMNS = `s.id, s.email, s.first_name, s.last_name, s.role, s.all_organizations,
  array(select so.organization_id::text from staff_organizations so where so.staff_id = s.id
         order by so.organization_id) as organization_ids,
  s.title, s.npi, s.dea, s.licensed_states, s.password_hash, s.totp_secret_encrypted, s.disabled_at, s.created_at`;

/** An active session with its member, and whether an organization of the member requires a second factor. */
export type ActiveSessionRow = StaffRow & { session_id: string; csrf_hash: string; totp_required: boolean };

/**
 * Staff accounts, sessions and sign-in throttles. Not bound to a Tenant: a staff member works across the
 * organizations listed on the account (or all of them); the operator API and the CLI manage accounts.
 */
export class StaffRepository {
  constructor(private readonly db: Database) {}

  async insert(tx: Queryable, staff: NewStaff): Promise<void> {
    await tx.query(
      `insert into staff_members (id, email, first_name, last_name, role, all_organizations, title, npi, dea,
                                  licensed_states, password_hash)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], $11)`,
      [
        staff.id,
        staff.email,
        staff.firstName,
        staff.lastName,
        staff.role,
        staff.organizationIds === null,
        staff.title,
        staff.npi,
        staff.dea,
        staff.licensedStates,
        staff.passwordHash,
      ],
    );
    if (staff.organizationIds && staff.organizationIds.length > 0) {
      await tx.query(
        `insert into staff_organizations (staff_id, organization_id)
         select $1, unnest($2::uuid[])`,
        [staff.id, staff.organizationIds],
      );
    }
  }

  /** How many of these organization ids exist. */
  async existingOrganizations(ids: string[]): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      'select count(*)::int as count from organizations where id = any($1::uuid[])',
      [ids],
    );
    return rows[0]!.count;
  }

  async byId(id: string, db: Queryable = this.db): Promise<StaffRow | null> {
    const { rows } = await db.query<StaffRow>(`select ${STAFF_COLUMNS} from staff_members s where s.id = $1`, [id]);
    return rows[0] ?? null;
  }

  async byEmail(email: string): Promise<StaffRow | null> {
    const { rows } = await this.db.query<StaffRow>(`select ${STAFF_COLUMNS} from staff_members s where s.email = $1`, [
      email,
    ]);
    return rows[0] ?? null;
  }

  async list(): Promise<StaffRow[]> {
    const { rows } = await this.db.query<StaffRow>(
      `select ${STAFF_COLUMNS} from staff_members s order by s.created_at, s.id`,
    );
    return rows;
  }

  /** Disables the account and revokes its sessions; false when there is no such account. */
  async disable(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `update staff_members set disabled_at = coalesce(disabled_at, now()), updated_at = now()
          where id = $1 returning id`,
        [id],
      );
      if (rows.length === 0) return false;
      await tx.query('update staff_sessions set revoked_at = now() where staff_id = $1 and revoked_at is null', [id]);
      return true;
    });
  }

  async insertPasswordToken(tx: Queryable, tokenHash: string, staffId: string, expiresAt: Date): Promise<void> {
    await tx.query('insert into staff_password_tokens (token_hash, staff_id, expires_at) values ($1, $2, $3)', [
      tokenHash,
      staffId,
      expiresAt,
    ]);
  }

  /**
   * Uses a set-password token once: the token is marked used, the password set, and every session of the
   * member revoked, in one transaction. False when the token is unknown, used, expired or its member disabled.
   */
  async usePasswordToken(tokenHash: string, passwordHash: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ staff_id: string }>(
        `update staff_password_tokens t set used_at = now()
          from staff_members s
         where t.token_hash = $1 and t.used_at is null and t.expires_at > now()
           and s.id = t.staff_id and s.disabled_at is null
         returning t.staff_id`,
        [tokenHash],
      );
      const staffId = rows[0]?.staff_id;
      if (!staffId) return false;
      await tx.query('update staff_members set password_hash = $2, updated_at = now() where id = $1', [
        staffId,
        passwordHash,
      ]);
      await tx.query('update staff_sessions set revoked_at = now() where staff_id = $1 and revoked_at is null', [
        staffId,
      ]);
      return true;
    });
  }

  async setTotpSecret(staffId: string, sealed: string | null, step: number | null): Promise<void> {
    await this.db.query(
      'update staff_members set totp_secret_encrypted = $2, totp_last_step = $3, updated_at = now() where id = $1',
      [staffId, sealed, step],
    );
  }

  /** Records a TOTP step as used; false when it (or a later one) was used before: the code is a replay. */
  async useTotpStep(staffId: string, step: number): Promise<boolean> {
    const { rows } = await this.db.query(
      `update staff_members set totp_last_step = $2
        where id = $1 and (totp_last_step is null or totp_last_step < $2) returning id`,
      [staffId, step],
    );
    return rows.length > 0;
  }

  async insertSession(session: {
    id: string;
    tokenHash: string;
    csrfHash: string;
    staffId: string;
    expiresAt: Date;
    clientAddress: string | null;
  }): Promise<void> {
    await this.db.query(
      `insert into staff_sessions (id, token_hash, csrf_hash, staff_id, expires_at, client_address)
       values ($1, $2, $3, $4, $5, $6)`,
      [session.id, session.tokenHash, session.csrfHash, session.staffId, session.expiresAt, session.clientAddress],
    );
  }

  /** The active session of this token hash with its member, or null. */
  async activeSession(tokenHash: string): Promise<ActiveSessionRow | null> {
    const { rows } = await this.db.query<ActiveSessionRow>(
      `select ss.id as session_id, ss.csrf_hash, ${STAFF_COLUMNS},
              exists (select 1 from organizations o
                       where o.staff_totp_required
                         and (s.all_organizations
                              or o.id in (select so.organization_id from staff_organizations so
                                           where so.staff_id = s.id))) as totp_required
         from staff_sessions ss join staff_members s on s.id = ss.staff_id
        where ss.token_hash = $1 and ss.revoked_at is null and ss.expires_at > now() and s.disabled_at is null`,
      [tokenHash],
    );
    return rows[0] ?? null;
  }

  async revokeSession(sessionId: string): Promise<void> {
    await this.db.query('update staff_sessions set revoked_at = now() where id = $1 and revoked_at is null', [
      sessionId,
    ]);
  }

  /** Seconds until this (account, address) may try again at `now`, or 0. */
  async throttleWait(keyHash: string, now: Date): Promise<number> {
    const { rows } = await this.db.query<{ wait: number }>(
      `select greatest(0, ceil(extract(epoch from (blocked_until - $2::timestamptz))))::int as wait
         from staff_login_throttle where key_hash = $1`,
      [keyHash, now],
    );
    return rows[0]?.wait ?? 0;
  }

  /**
   * Counts a failure at `now`; from the `free`-th failure on, the (account, address) waits 1 s, then twice as
   * long at each next failure, up to `capSeconds`. One statement: concurrent failures all count.
   */
  async recordFailure(keyHash: string, free: number, capSeconds: number, now: Date): Promise<void> {
    await this.db.query(
      `insert into staff_login_throttle as t (key_hash, failures, blocked_until, updated_at)
       values ($1, 1, case when 1 >= $2 then $4::timestamptz + interval '1 second' end, $4)
       on conflict (key_hash) do update
         set failures = t.failures + 1,
             blocked_until = case when t.failures + 1 >= $2
               then $4::timestamptz + make_interval(secs => least($3::float8, power(2, t.failures + 1 - $2)::float8))
               end,
             updated_at = $4`,
      [keyHash, free, capSeconds, now],
    );
  }

  /** Sets whether the organization requires a second factor of its staff; false when there is no such one. */
  async setTotpRequired(organizationId: string, required: boolean): Promise<boolean> {
    const { rows } = await this.db.query(
      'update organizations set staff_totp_required = $2 where id = $1 returning id',
      [organizationId, required],
    );
    return rows.length > 0;
  }

  /**
   * Forgets the failures of every (account, address) quiet since `before`: their wait is long over, and the
   * table holds only pairs tried lately. A range of the updated_at index.
   */
  async pruneThrottle(before: Date): Promise<number> {
    const { rows } = await this.db.query<{ key_hash: string }>(
      'delete from staff_login_throttle where updated_at < $1 returning key_hash',
      [before],
    );
    return rows.length;
  }

  async clearFailures(keyHash: string): Promise<void> {
    await this.db.query('delete from staff_login_throttle where key_hash = $1', [keyHash]);
  }
}
