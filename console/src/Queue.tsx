import {
  Alert,
  Badge,
  Button,
  Chip,
  Group,
  Loader,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  VisuallyHidden,
} from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { api, CASE_STATUSES, data, type Me } from './api.ts';
import { NO_FILTERS, QueueFilters, queueQueryOf, type QueueFilterValues } from './QueueFilters.tsx';
import { age, STATUS_COLOR, statusLabel } from './format.ts';
import { hrefOf, navigate } from './navigation.ts';

/** Typing in a field, or Enter on a control (a button, a link), is not a shortcut. */
const onControl = (target: EventTarget | null) =>
  target instanceof HTMLElement &&
  (target.isContentEditable || target.closest('input, textarea, select, button, a, [role="button"]') !== null);

const PAGE_SIZE = 50;

/**
 * The queue: the cases the member may see, oldest first, with a status filter, counts per status, each case's age,
 * escalated cases marked; j/k move the selection and Enter opens it.
 */
export function Queue({ me }: { me: Me }) {
  const [status, setStatus] = useState<string>('');
  const [search, setSearch] = useState('');
  const [filters, setFilters] = useState<QueueFilterValues>(NO_FILTERS);
  // Keyset paging: the cursors of the pages before this one (the first page has none).
  const [cursors, setCursors] = useState<string[]>([]);
  const [selected, setSelected] = useState(0);
  const after = cursors[cursors.length - 1];
  const filterQuery = queueQueryOf(filters, me.staffId);
  const queue = useQuery({
    queryKey: ['queue', status, search, filterQuery, after],
    queryFn: () =>
      data(
        api.GET('/staff/v1/cases', {
          params: {
            query: {
              ...(status ? { status } : {}),
              ...(search ? { search } : {}),
              ...filterQuery,
              ...(after ? { after } : {}),
              limit: PAGE_SIZE,
            },
          },
        }),
      ),
    refetchInterval: 30_000,
    placeholderData: (previous) => previous,
  });
  // The organization filter, for a member of several organizations (or of every one): their names, once.
  const organizations = useQuery({
    queryKey: ['organizations'],
    queryFn: () => data(api.GET('/staff/v1/organizations')),
    enabled: me.organizationIds === null || me.organizationIds.length > 1,
    staleTime: 5 * 60_000,
  });
  const organizationName = new Map((organizations.data?.organizations ?? []).map((item) => [item.id, item.name]));
  const cases = queue.data?.cases ?? [];
  const rows = useRef<(HTMLTableRowElement | null)[]>([]);

  useEffect(() => {
    if (selected >= cases.length && cases.length > 0) setSelected(cases.length - 1);
  }, [cases.length, selected]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (onControl(event.target) || event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === 'j' || event.key === 'k') {
        event.preventDefault();
        setSelected((current) => {
          const next = Math.min(Math.max(current + (event.key === 'j' ? 1 : -1), 0), Math.max(cases.length - 1, 0));
          rows.current[next]?.scrollIntoView({ block: 'nearest' });
          return next;
        });
      } else if (event.key === 'Enter' && cases[selected]) {
        event.preventDefault();
        navigate({ page: 'case', caseId: cases[selected].id });
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [cases, selected]);

  const counts = queue.data?.counts ?? {};
  // A capped count is a lower bound (the API counts up to its cap): shown as "1000+", and so is a total it is in.
  const capped = queue.data?.countsCapped ?? {};
  const anyCapped = Object.values(capped).some(Boolean);
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
  return (
    <Stack component="main">
      <Title order={2}>Case queue</Title>
      <Group justify="space-between" align="flex-end">
        <Chip.Group
          multiple={false}
          value={status}
          onChange={(value) => {
            setStatus(value);
            setCursors([]);
          }}
        >
          <Group gap="xs" role="group" aria-label="Filter by status">
            <Chip value="">All ({`${total}${anyCapped ? '+' : ''}`})</Chip>
            {CASE_STATUSES.map((name) => (
              <Chip key={name} value={name}>
                {statusLabel(name)} ({`${counts[name] ?? 0}${capped[name] ? '+' : ''}`})
              </Chip>
            ))}
          </Group>
        </Chip.Group>
        <TextInput
          label="Search"
          placeholder="Short id, email or name"
          value={search}
          onChange={(event) => {
            setSearch(event.currentTarget.value);
            setCursors([]);
          }}
          w={260}
        />
      </Group>
      <QueueFilters
        organizations={organizations.data?.organizations}
        values={filters}
        onChange={(values) => {
          setFilters(values);
          setCursors([]);
        }}
      />
      <Text size="sm" c="gray.7">
        j and k move through the cases, Enter opens the selected one.
      </Text>
      {queue.isError && (
        <Alert color="red" role="alert">
          {queue.error.message}
        </Alert>
      )}
      {queue.isPending ? (
        <Loader aria-label="Loading the queue" />
      ) : cases.length === 0 ? (
        <Text>No cases match.</Text>
      ) : (
        <Table highlightOnHover striped aria-label="Cases" aria-rowcount={cases.length}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Case</Table.Th>
              <Table.Th>Patient</Table.Th>
              <Table.Th>State</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Age</Table.Th>
              <Table.Th>
                <VisuallyHidden>Flags</VisuallyHidden>
              </Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {cases.map((item, index) => (
              <Table.Tr
                key={item.id}
                ref={(element) => {
                  rows.current[index] = element;
                }}
                aria-current={index === selected ? 'true' : undefined}
                data-selected={index === selected || undefined}
                bg={index === selected ? 'var(--mantine-color-blue-light)' : undefined}
                onClick={() => setSelected(index)}
              >
                <Table.Td>
                  <a
                    href={hrefOf({ page: 'case', caseId: item.id })}
                    onClick={(event) => {
                      event.preventDefault();
                      navigate({ page: 'case', caseId: item.id });
                    }}
                  >
                    {item.shortId}
                  </a>
                  {organizationName.size > 1 && (
                    <Text size="xs" c="gray.7" component="span" display="block">
                      {organizationName.get(item.organizationId)}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>
                  {item.patient.firstName} {item.patient.lastName}
                  <Text size="xs" c="gray.7" component="span" display="block">
                    {item.patient.email}
                  </Text>
                </Table.Td>
                <Table.Td>{item.patient.state ?? '—'}</Table.Td>
                <Table.Td>
                  <Badge color={STATUS_COLOR[item.status]} variant="filled">
                    {statusLabel(item.status)}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  <time dateTime={item.createdAt}>{age(item.createdAt)}</time>
                </Table.Td>
                <Table.Td>
                  {/* Filled: an outline's red text is below 4.5:1 on the selected row's tint (axe-core). */}
                  {item.isEscalated && (
                    <Badge color="red" variant="filled">
                      Escalated
                    </Badge>
                  )}
                  {!item.assigneeId && (
                    <Text size="xs" c="gray.7" component="span">
                      unassigned
                    </Text>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {(cursors.length > 0 || queue.data?.nextCursor) && (
        <Group gap="xs" role="navigation" aria-label="Queue pages">
          <Button variant="default" disabled={cursors.length === 0} onClick={() => setCursors([])}>
            First page
          </Button>
          <Button
            variant="default"
            disabled={cursors.length === 0}
            onClick={() => setCursors((current) => current.slice(0, -1))}
          >
            Previous page
          </Button>
          <Text size="sm">Page {cursors.length + 1}</Text>
          <Button
            variant="default"
            disabled={!queue.data?.nextCursor}
            onClick={() => {
              const next = queue.data?.nextCursor;
              if (next) setCursors((current) => [...current, next]);
              setSelected(0);
            }}
          >
            Next page
          </Button>
        </Group>
      )}
    </Stack>
  );
}
