import { Button, Group, Loader, Stack, Table, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, data } from '../api.ts';
import { Failure, OperatorLink, ShownOnce, when } from './common.tsx';

export const ORGANIZATIONS_KEY = ['admin', 'organizations'] as const;

/** Every organization, and a form that creates one with its first API key (shown once). */
export function Organizations() {
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const list = useQuery({
    queryKey: ORGANIZATIONS_KEY,
    queryFn: () => data(api.GET('/admin/v1/organizations')),
  });
  const create = useMutation({
    mutationFn: () => data(api.POST('/admin/v1/organizations', { body: { name } })),
    onSuccess: () => {
      setName('');
      void queryClient.invalidateQueries({ queryKey: ORGANIZATIONS_KEY });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <Stack>
      <Title order={2}>Organizations</Title>
      <form onSubmit={submit} aria-label="New organization">
        <Group align="flex-end">
          <TextInput
            label="New organization's name"
            required
            maxLength={200}
            value={name}
            onChange={(event) => setName(event.currentTarget.value)}
          />
          <Button type="submit" loading={create.isPending}>
            Create organization
          </Button>
        </Group>
      </form>
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
        <Table striped aria-label="Organizations">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Active API keys</Table.Th>
              <Table.Th>Created</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(list.data?.organizations ?? []).map((organization) => (
              <Table.Tr key={organization.id}>
                <Table.Td>
                  <OperatorLink path={`organizations/${organization.id}`}>{organization.name}</OperatorLink>
                </Table.Td>
                <Table.Td>{organization.activeApiKeys}</Table.Td>
                <Table.Td>{when(organization.createdAt)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
