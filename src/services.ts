import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { OrganizationService } from './modules/organizations/service.ts';

/** The domain services, built once per process over one database; the HTTP app and the CLI share them. */
export interface Services {
  organizations: OrganizationService;
}

export function createServices(db: Database, _config: Config): Services {
  return {
    organizations: new OrganizationService(db),
  };
}
