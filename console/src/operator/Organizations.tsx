import { Loader, Stack, Table, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, data } from '../api.ts';
import { Failure, ListTable, OperatorLink, RowForm, ShownOnce, when } from './common.tsx';

export const ORGANIZATIONS_KEY = ['admin', 'organizations'] as const;

/** Every organization: the list page's query, which the pages that name or pick an organization share. */
export function useOrganizations() {
  return useQuery({ queryKey: ORGANIZATIONS_KEY, queryFn: () => data(api.GET('/admin/v1/organizations')) });
}

/** Every organization, and a form that creates one with its first API key (shown once). */
export function Organizations() {
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const list = useOrganizations();
  const create = useMutation({
    mutationFn: () => data(api.POST('/admin/v1/organizations', { body: { name } })),
    onSuccess: () => {
      setName('');
      void queryClient.invalidateQueries({ queryKey: ORGANIZATIONS_KEY });
    },
  });
  return (
    <Stack>
      <Title order={2}>Organizations</Title>
      <RowForm
        label="New organization"
        submitLabel="Create organization"
        pending={create.isPending}
        onSubmit={() => create.mutate()}
      >
        <TextInput
          label="New organization's name"
          required
          maxLength={200}
          value={name}
          onChange={(event) => setName(event.currentTarget.value)}
        />
      </RowForm>
      <Failure error={create.error} />
      {create.data && (
        <ShownOnce title="The organization's API key" value={create.data.apiKey}>
          Copy it now: it is shown only this once. Then{' '}
          <OperatorLink path={`organizations/${create.data.organizationId}`}>open the organization</OperatorLink>.
        </ShownOnce>
      )}
      <Failure error={list.error} />
      {list.isPending ? (
        <Loader aria-label="Loading the organizations" />
      ) : (
        <ListTable label="Organizations" columns={['Name', 'Active API keys', 'Created']}>
          {(list.data?.organizations ?? []).map((organization) => (
            <Table.Tr key={organization.id}>
              <Table.Td>
                <OperatorLink path={`organizations/${organization.id}`}>{organization.name}</OperatorLink>
              </Table.Td>
              <Table.Td>{organization.activeApiKeys}</Table.Td>
              <Table.Td>{when(organization.createdAt)}</Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      )}
    </Stack>
  );
}
