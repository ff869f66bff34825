import { Badge, Button, Checkbox, Group, NativeSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, data } from '../api.ts';
import { Failure, ListTable, namesOf, ShownOnce, useFields, when, type AdminBody } from './common.tsx';
import { useOrganizations } from './Organizations.tsx';

type NewStaff = AdminBody<'/admin/v1/staff', 'post'>;
const ROLES = ['SUPPORT', 'PROVIDER', 'ADMIN'] as const;
const KEY = ['admin', 'staff'];

/**
 * The console's set-password page for a one-time token. The token rides in the fragment, which the browser never
 * sends to a server (no access log or proxy sees it).
 */
const setPasswordLink = (token: string) => `${location.origin}/console/set-password#token=${encodeURIComponent(token)}`;

const EMPTY = {
  email: '',
  firstName: '',
  lastName: '',
  role: 'SUPPORT' as NewStaff['role'],
  title: '',
  npi: '',
  states: '',
};

/** Staff accounts: create (a one-time set-password link), list, disable, reset the password. */
export function Staff() {
  const queryClient = useQueryClient();
  const { values: form, setValues: setForm, field } = useFields(EMPTY);
  const [everyOrganization, setEveryOrganization] = useState(true);
  const [organizationIds, setOrganizationIds] = useState<string[]>([]);
  const [link, setLink] = useState<{ who: string; token: string } | null>(null);
  const staff = useQuery({ queryKey: KEY, queryFn: () => data(api.GET('/admin/v1/staff')) });
  const organizations = useOrganizations();
  const orgName = namesOf(organizations.data?.organizations);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: KEY });

  const create = useMutation({
    mutationFn: () => {
      const provider = form.role === 'PROVIDER';
      const body: NewStaff = {
        email: form.email,
        firstName: form.firstName,
        lastName: form.lastName,
        role: form.role,
        ...(everyOrganization ? {} : { organizationIds }),
        ...(provider && form.title ? { title: form.title } : {}),
        ...(provider && form.npi ? { npi: form.npi } : {}),
        ...(provider && form.states
          ? { licensedStates: form.states.split(/[\s,]+/).filter((state) => state !== '') }
          : {}),
      };
      return data(api.POST('/admin/v1/staff', { body }));
    },
    onSuccess: (created) => {
      setForm(EMPTY);
      setLink(created.setPassword ? { who: created.email, token: created.setPassword.token } : null);
      refresh();
    },
  });
  const disable = useMutation({
    mutationFn: (staffId: string) =>
      data(api.POST('/admin/v1/staff/{staffId}/disable', { params: { path: { staffId } } })),
    onSuccess: refresh,
  });
  const reset = useMutation({
    mutationFn: async (member: { staffId: string; email: string }) => {
      const answer = await data(
        api.POST('/admin/v1/staff/{staffId}/reset-password', { params: { path: { staffId: member.staffId } } }),
      );
      return { who: member.email, token: answer.setPassword.token };
    },
    onSuccess: (issued) => {
      setLink(issued);
      refresh();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <Stack>
      <Title order={2}>Staff</Title>
      <form onSubmit={submit} aria-label="New staff member">
        <Stack gap="xs">
          <Group align="flex-end">
            <TextInput label="Email" type="email" required {...field('email')} />
            <TextInput label="First name" required {...field('firstName')} />
            <TextInput label="Last name" required {...field('lastName')} />
            <NativeSelect label="Role" data={[...ROLES]} {...field('role')} />
          </Group>
          {form.role === 'PROVIDER' && (
            <Group align="flex-end">
              <TextInput label="Title" placeholder="MD" {...field('title')} />
              <TextInput label="NPI (10 digits)" inputMode="numeric" {...field('npi')} />
              <TextInput label="Licensed states" placeholder="DC, NY" {...field('states')} />
            </Group>
          )}
          <Checkbox
            label="Works for every organization"
            checked={everyOrganization}
            onChange={(event) => setEveryOrganization(event.currentTarget.checked)}
          />
          {!everyOrganization && (
            <Checkbox.Group label="Organizations" value={organizationIds} onChange={setOrganizationIds}>
              <Group mt="xs">
                {(organizations.data?.organizations ?? []).map((item) => (
                  <Checkbox key={item.id} value={item.id} label={item.name} />
                ))}
              </Group>
            </Checkbox.Group>
          )}
          <Group>
            <Button type="submit" loading={create.isPending}>
              Create staff member
            </Button>
          </Group>
        </Stack>
      </form>
      <Failure error={create.error ?? disable.error ?? reset.error ?? staff.error} />
      {link && (
        <ShownOnce title={`Set-password link for ${link.who}`} value={setPasswordLink(link.token)}>
          Send it to them: it works once, for 24 hours, and is shown only this once.
        </ShownOnce>
      )}
      <ListTable label="Staff members" columns={['Name', 'Role', 'Organizations', 'Sign-in', 'Created', 'Actions']}>
        {(staff.data?.staff ?? []).map((member) => (
          <Table.Tr key={member.staffId}>
            <Table.Td>
              {member.firstName} {member.lastName}
              <Text size="xs" c="gray.7">
                {member.email}
              </Text>
            </Table.Td>
            <Table.Td>
              {member.role}
              {member.licensedStates.length > 0 && (
                <Text size="xs" c="gray.7">
                  {member.licensedStates.join(', ')}
                </Text>
              )}
            </Table.Td>
            <Table.Td>
              {member.organizationIds === null
                ? 'Every organization'
                : member.organizationIds.map((id) => orgName.get(id) ?? id).join(', ')}
            </Table.Td>
            <Table.Td>
              {member.disabled ? (
                <Badge color="gray" variant="outline">
                  Disabled
                </Badge>
              ) : (
                <>
                  {member.hasPassword ? 'Password set' : 'Awaiting password'}
                  {member.totpEnabled ? ', TOTP on' : ''}
                </>
              )}
            </Table.Td>
            <Table.Td>{when(member.createdAt)}</Table.Td>
            <Table.Td>
              {!member.disabled && (
                <Group gap="xs">
                  <Button
                    size="xs"
                    variant="default"
                    aria-label={`Reset password for ${member.email}`}
                    onClick={() => reset.mutate(member)}
                  >
                    Reset password
                  </Button>
                  <Button
                    size="xs"
                    color="red"
                    variant="outline"
                    aria-label={`Disable ${member.email}`}
                    onClick={() => {
                      if (confirm(`Disable ${member.email}? Their sessions end at once.`))
                        disable.mutate(member.staffId);
                    }}
                  >
                    Disable
                  </Button>
                </Group>
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </ListTable>
    </Stack>
  );
}
