import { Alert, Button, Group, Select, Stack } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, data, type CaseRead } from '../api.ts';
import { assigneesKey, caseKey } from './keys.ts';

/**
 * "Assign to someone else": the members the case may be assigned to (GET /staff/v1/cases/:caseId/assignees),
 * licensed providers first; ADMIN and SUPPORT only (a PROVIDER assigns only themselves).
 */
export function AssignPicker({ read }: { read: CaseRead }) {
  const queryClient = useQueryClient();
  const caseId = read.caseDetail.id;
  const [chosen, setChosen] = useState<string | null>(null);
  const members = useQuery({
    queryKey: assigneesKey(caseId),
    queryFn: () => data(api.GET('/staff/v1/cases/{caseId}/assignees', { params: { path: { caseId } } })),
  });
  const assign = useMutation({
    mutationFn: (assigneeId: string) =>
      data(
        api.POST('/staff/v1/cases/{caseId}/assign', {
          params: { path: { caseId } },
          body: { assigneeId, expectedVersion: read.version },
        }),
      ),
    onSuccess: () => setChosen(null),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: caseKey(caseId) });
      void queryClient.invalidateQueries({ queryKey: ['queue'] });
    },
  });
  const options = (members.data?.assignees ?? [])
    .filter((member) => member.staffId !== read.assigneeId)
    .map((member) => ({
      value: member.staffId,
      label:
        `${member.firstName} ${member.lastName}${member.title ? `, ${member.title}` : ''} · ${member.role.toLowerCase()}` +
        (member.role === 'PROVIDER' ? (member.licensedForCase ? ' · licensed here' : ' · not licensed here') : ''),
    }));
  return (
    <Stack gap="xs">
      <Group align="flex-end" gap="xs">
        <Select
          label="Assign to"
          placeholder={members.isPending ? 'Loading the staff…' : 'Choose a staff member'}
          data={options}
          value={chosen}
          onChange={setChosen}
          searchable
          w={320}
        />
        <Button
          variant="default"
          disabled={!chosen}
          loading={assign.isPending}
          onClick={() => chosen && assign.mutate(chosen)}
        >
          Assign
        </Button>
      </Group>
      {(members.isError || assign.isError) && (
        <Alert color="red" role="alert" title="The case was not assigned">
          {(assign.error ?? members.error)?.message}
        </Alert>
      )}
    </Stack>
  );
}
