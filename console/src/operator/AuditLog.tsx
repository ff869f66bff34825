import { Button, Group, Loader, NativeSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, data } from '../api.ts';
import { Failure, when, type AdminGet } from './common.tsx';
import { ORGANIZATIONS_KEY } from './Organizations.tsx';

type AuditPage = AdminGet<'/admin/v1/audit-events'>;
const EMPTY = { organizationId: '', staffId: '', action: '', resourceType: '', resourceId: '', from: '', to: '' };

/** The audit log, newest first, with the admin API's filters; "More" follows its cursor. */
export function AuditLog() {
  const [form, setForm] = useState(EMPTY);
  const [filters, setFilters] = useState(EMPTY);
  const organizations = useQuery({
    queryKey: ORGANIZATIONS_KEY,
    queryFn: () => data(api.GET('/admin/v1/organizations')),
  });
  const orgName = new Map((organizations.data?.organizations ?? []).map((item) => [item.id, item.name]));
  const staff = useQuery({ queryKey: ['admin', 'staff'], queryFn: () => data(api.GET('/admin/v1/staff')) });
  const staffName = new Map(
    (staff.data?.staff ?? []).map((member) => [member.staffId, `${member.firstName} ${member.lastName}`]),
  );
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
  const field = (name: keyof typeof EMPTY) => ({
    value: form[name],
    onChange: (event: { currentTarget: { value: string } }) => setForm({ ...form, [name]: event.currentTarget.value }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setFilters(form);
  };
  const rows = events.data?.pages.flatMap((page) => page.auditEvents) ?? [];
  return (
    <Stack>
      <Title order={2}>Audit log</Title>
      <form onSubmit={submit} aria-label="Audit log filters">
        <Group align="flex-end">
          <NativeSelect
            label="Organization"
            data={[
              { value: '', label: 'Any' },
              ...(organizations.data?.organizations ?? []).map((item) => ({ value: item.id, label: item.name })),
            ]}
            {...field('organizationId')}
          />
          <NativeSelect
            label="Staff member"
            data={[
              { value: '', label: 'Any' },
              ...(staff.data?.staff ?? []).map((member) => ({
                value: member.staffId,
                label: `${member.firstName} ${member.lastName}`,
              })),
            ]}
            {...field('staffId')}
          />
          <TextInput label="Action" placeholder="case.read" {...field('action')} />
          <TextInput label="Resource type" placeholder="case" {...field('resourceType')} />
          <TextInput label="Resource id" {...field('resourceId')} />
          <TextInput label="From" type="datetime-local" {...field('from')} />
          <TextInput label="To" type="datetime-local" {...field('to')} />
          <Button type="submit">Filter</Button>
        </Group>
      </form>
      <Failure error={events.error} />
      {events.isPending ? (
        <Loader aria-label="Loading the audit log" />
      ) : rows.length === 0 ? (
        <Text>No events match.</Text>
      ) : (
        <Table striped aria-label="Audit events">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>When</Table.Th>
              <Table.Th>Action</Table.Th>
              <Table.Th>Resource</Table.Th>
              <Table.Th>Organization</Table.Th>
              <Table.Th>By</Table.Th>
              <Table.Th>Outcome</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
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
          </Table.Tbody>
        </Table>
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
