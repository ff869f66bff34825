import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { AuditLog } from './modules/audit/audit-log.ts';
import { AuditRepository } from './modules/audit/repository.ts';
import { OrganizationService } from './modules/organizations/service.ts';

/** The domain services, built once per process over one database; the HTTP app and the CLI share them. */
export interface Services {
  organizations: OrganizationService;
  /** The PHI access audit log (append-only); routes feed it through `config.audit`. */
  audit: AuditLog;
}

export function createServices(db: Database, _config: Config): Services {
  return {
    organizations: new OrganizationService(db),
    audit: new AuditLog(new AuditRepository(db)),
  };
}
