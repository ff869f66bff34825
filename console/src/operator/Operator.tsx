import { Group, Stack, Text, Title } from '@mantine/core';
import type { Me } from '../api.ts';
import { AuditLog } from './AuditLog.tsx';
import { OperatorLink } from './common.tsx';
import { Organization } from './Organization.tsx';
import { Organizations } from './Organizations.tsx';
import { PromoCodes } from './PromoCodes.tsx';
import { Staff } from './Staff.tsx';

/**
 * The admin API serves a staff ADMIN of every organization only (src/http/gate.ts), so the operator pages are shown
 * to those alone; the API refuses everyone else whatever the page shows.
 */
export const isOperator = (me: Me): boolean => me.role === 'ADMIN' && me.organizationIds === null;

const SECTIONS = [
  ['organizations', 'Organizations'],
  ['staff', 'Staff'],
  ['promo-codes', 'Promo codes'],
  ['audit', 'Audit log'],
] as const;

/** The operator's pages, under /console/operator/: `path` is the rest of the address. */
export function Operator({ path, me }: { path: string; me: Me }) {
  if (!isOperator(me)) {
    return (
      <Stack component="main">
        <Title order={2}>Operator pages</Title>
        <Text>These pages are for an ADMIN who works for every organization.</Text>
      </Stack>
    );
  }
  const [section = 'organizations', id] = path.split('/');
  return (
    <Stack component="main">
      <Group component="nav" aria-label="Operator pages" gap="lg">
        {SECTIONS.map(([key, label]) => (
          <Text key={key} fw={section === key ? 700 : 400} aria-current={section === key ? 'page' : undefined}>
            <OperatorLink path={key}>{label}</OperatorLink>
          </Text>
        ))}
      </Group>
      {section === 'organizations' && id ? (
        <Organization organizationId={decodeURIComponent(id)} />
      ) : section === 'staff' ? (
        <Staff />
      ) : section === 'promo-codes' ? (
        <PromoCodes />
      ) : section === 'audit' ? (
        <AuditLog />
      ) : (
        <Organizations />
      )}
    </Stack>
  );
}
