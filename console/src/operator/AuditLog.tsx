import { Button, Group, Loader, NativeSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api, data } from '../api.ts';
import { choices, Failure, ListTable, namesOf, RowForm, useFields, when, type AdminGet } from './common.tsx';
import { useOrganizations } from './Organizations.tsx';

type AuditPage = AdminGet<'/admin/v1/audit-events'>;
const EMPTY = { organizationId: '', staffId: '', action: '', resourceType: '', resourceId: '', from: '', to: '' };

/** The audit log, newest first, with the admin API's filters; "More" follows its cursor. */
export function AuditLog() {
  const { values: form, field } = useFields(EMPTY);
  const [filters, setFilters] = useState(EMPTY);
  const organizations = useOrganizations();
  const orgName = namesOf(organizations.data?.organizations);
  const staff = useQuery({ queryKey: ['admin', 'staff'], queryFn: () => data(api.GET('/admin/v1/staff')) });
  const staffMembers = (staff.data?.staff ?? []).map((member) => ({
    id: member.staffId,
    name: `${member.firstName} ${member.lastName}`,
  }));
  const staffName = namesOf(staffMembers);
  const events = useInfiniteQuery({
    queryKey: ['admin', 'audit', filters],
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page: AuditPage) => page.nextCursor ?? undefined,
    queryFn: ({ pageParam }): Promise<AuditPage> => {
      const query = Object.fromEntries(
        Object.entries({
          ...filters,
          from: filters.from && new Date(filters.from).toISOString(),
          to: filters.to && new Date(filters.to).toISOString(),
        }).filter(([, value]) => value !== ''),
      );
      return data(api.GET('/admin/v1/audit-events', { params: { query: { ...query, limit: 50, cursor: pageParam } } }));
    },
  });
  const rows = events.data?.pages.flatMap((page) => page.auditEvents) ?? [];
  return (
    <Stack>
      <Title order={2}>Audit log</Title>
      <RowForm label="Audit log filters" submitLabel="Filter" onSubmit={() => setFilters(form)}>
        <NativeSelect
          label="Organization"
          data={choices('Any', organizations.data?.organizations)}
          {...field('organizationId')}
        />
        <NativeSelect label="Staff member" data={choices('Any', staffMembers)} {...field('staffId')} />
        <TextInput label="Action" placeholder="case.read" {...field('action')} />
        <TextInput label="Resource type" placeholder="case" {...field('resourceType')} />
        <TextInput label="Resource id" {...field('resourceId')} />
        <TextInput label="From" type="datetime-local" {...field('from')} />
        <TextInput label="To" type="datetime-local" {...field('to')} />
      </RowForm>
      <Failure error={events.error} />
      {events.isPending ? (
        <Loader aria-label="Loading the audit log" />
      ) : rows.length === 0 ? (
        <Text>No events match.</Text>
      ) : (
        <ListTable label="Audit events" columns={['When', 'Action', 'Resource', 'Organization', 'By', 'Outcome']}>
          {rows.map((event) => (
            <Table.Tr key={event.id}>
              <Table.Td>{when(event.occurredAt)}</Table.Td>
              <Table.Td>
                <code>{event.action}</code>
              </Table.Td>
              <Table.Td>
                {event.resourceType} <code>{event.resourceId ?? ''}</code>
              </Table.Td>
              <Table.Td>
                {event.organizationId ? (orgName.get(event.organizationId) ?? event.organizationId) : '—'}
              </Table.Td>
              <Table.Td>
                {event.staffId
                  ? (staffName.get(event.staffId) ?? event.staffId)
                  : event.apiKeyId
                    ? `API key ${event.apiKeyId.slice(0, 8)}`
                    : 'operator'}
              </Table.Td>
              <Table.Td>
                {event.outcome} ({event.statusCode})
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      )}
      {events.hasNextPage && (
        <Group>
          <Button variant="default" onClick={() => void events.fetchNextPage()} loading={events.isFetchingNextPage}>
            More
          </Button>
        </Group>
      )}
    </Stack>
  );
}
