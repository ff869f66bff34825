import { Button, Group, Select, TextInput } from '@mantine/core';

/** The queue's filters beyond status and search, as the form holds them (strings, '' for "any"). */
export interface QueueFilterValues {
  organizationId: string;
  assignee: '' | 'me' | 'unassigned';
  escalated: '' | 'true' | 'false';
  archived: boolean;
  state: string;
  createdFrom: string;
  createdTo: string;
}

export const NO_FILTERS: QueueFilterValues = {
  organizationId: '',
  assignee: '',
  escalated: '',
  archived: false,
  state: '',
  createdFrom: '',
  createdTo: '',
};

/** A day (YYYY-MM-DD) as the API's instant: its start, or for `to` the next day's start (the API's range is [from, to)). */
function dayStart(day: string, next = false): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const date = new Date(`${day}T00:00:00Z`);
  if (next) date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString();
}

/** The query parameters of GET /staff/v1/cases for these filters (the member's id for "assigned to me"). */
export function queueQueryOf(values: QueueFilterValues, staffId: string): Record<string, string> {
  const query: Record<string, string> = {};
  if (values.organizationId) query.organizationId = values.organizationId;
  if (values.assignee === 'me') query.assigneeId = staffId;
  if (values.assignee === 'unassigned') query.unassigned = 'true';
  if (values.escalated) query.escalated = values.escalated;
  if (values.archived) query.archived = 'true';
  if (/^[A-Za-z]{2}$/.test(values.state)) query.state = values.state.toUpperCase();
  const from = dayStart(values.createdFrom);
  const to = dayStart(values.createdTo, true);
  if (from) query.createdFrom = from;
  if (to) query.createdTo = to;
  return query;
}

/**
 * The filter controls; each change starts the queue again from its first page. `organizations`: those the member
 * works for, when there are several (the organization filter is shown only then).
 */
export function QueueFilters({
  values,
  onChange,
  organizations,
}: {
  values: QueueFilterValues;
  onChange: (values: QueueFilterValues) => void;
  organizations?: { id: string; name: string }[];
}) {
  const set = (change: Partial<QueueFilterValues>) => onChange({ ...values, ...change });
  return (
    <Group align="flex-end" gap="sm" role="group" aria-label="More filters">
      {organizations && organizations.length > 1 && (
        <Select
          label="Organization"
          w={200}
          allowDeselect={false}
          searchable
          data={[
            { value: '', label: 'All organizations' },
            ...organizations.map((organization) => ({ value: organization.id, label: organization.name })),
          ]}
          value={values.organizationId}
          onChange={(value) => set({ organizationId: value ?? '' })}
        />
      )}
      <Select
        label="Assignee"
        w={170}
        allowDeselect={false}
        data={[
          { value: '', label: 'Anyone' },
          { value: 'me', label: 'Assigned to me' },
          { value: 'unassigned', label: 'Unassigned' },
        ]}
        value={values.assignee}
        onChange={(value) => set({ assignee: (value ?? '') as QueueFilterValues['assignee'] })}
      />
      <Select
        label="Escalation"
        w={150}
        allowDeselect={false}
        data={[
          { value: '', label: 'Any' },
          { value: 'true', label: 'Escalated' },
          { value: 'false', label: 'Not escalated' },
        ]}
        value={values.escalated}
        onChange={(value) => set({ escalated: (value ?? '') as QueueFilterValues['escalated'] })}
      />
      <Select
        label="Queue"
        w={150}
        allowDeselect={false}
        data={[
          { value: 'open', label: 'Open cases' },
          { value: 'archived', label: 'Archived cases' },
        ]}
        value={values.archived ? 'archived' : 'open'}
        onChange={(value) => set({ archived: value === 'archived' })}
      />
      <TextInput
        label="Patient's state"
        placeholder="e.g. DC"
        maxLength={2}
        w={120}
        value={values.state}
        onChange={(event) => set({ state: event.currentTarget.value })}
      />
      <TextInput
        type="date"
        label="Created from"
        w={160}
        value={values.createdFrom}
        onChange={(event) => set({ createdFrom: event.currentTarget.value })}
      />
      <TextInput
        type="date"
        label="Created to"
        w={160}
        value={values.createdTo}
        onChange={(event) => set({ createdTo: event.currentTarget.value })}
      />
      <Button variant="default" onClick={() => onChange(NO_FILTERS)}>
        Clear filters
      </Button>
    </Group>
  );
}
