import { Badge, Button, Group, NativeSelect, Stack, Table, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, data } from '../api.ts';
import { Failure, when, type AdminBody } from './common.tsx';
import { ORGANIZATIONS_KEY } from './Organizations.tsx';

type NewPromoCode = AdminBody<'/admin/v1/promo-codes', 'post'>;
const KEY = ['admin', 'promo-codes'];
const EMPTY = { organizationId: '', code: '', kind: 'percent', amount: '', maxRedemptions: '', expiresAt: '' };

/** Promo codes (an organization's or global): create, list, disable. */
export function PromoCodes() {
  const queryClient = useQueryClient();
  const [form, setForm] = useState(EMPTY);
  const codes = useQuery({ queryKey: KEY, queryFn: () => data(api.GET('/admin/v1/promo-codes')) });
  const organizations = useQuery({
    queryKey: ORGANIZATIONS_KEY,
    queryFn: () => data(api.GET('/admin/v1/organizations')),
  });
  const orgName = new Map((organizations.data?.organizations ?? []).map((item) => [item.id, item.name]));
  const create = useMutation({
    mutationFn: () => {
      const body: NewPromoCode = {
        organizationId: form.organizationId || null,
        code: form.code,
        ...(form.kind === 'percent' ? { percentDiscount: Number(form.amount) } : { flatDiscount: form.amount }),
        ...(form.maxRedemptions ? { maxRedemptions: Number(form.maxRedemptions) } : {}),
        ...(form.expiresAt ? { expiresAt: new Date(form.expiresAt).toISOString() } : {}),
      };
      return data(api.POST('/admin/v1/promo-codes', { body }));
    },
    onSuccess: () => {
      setForm(EMPTY);
      void queryClient.invalidateQueries({ queryKey: KEY });
    },
  });
  const disable = useMutation({
    mutationFn: (promoCodeId: string) =>
      data(api.DELETE('/admin/v1/promo-codes/{promoCodeId}', { params: { path: { promoCodeId } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: KEY }),
  });
  const field = (name: keyof typeof EMPTY) => ({
    value: form[name],
    onChange: (event: { currentTarget: { value: string } }) => setForm({ ...form, [name]: event.currentTarget.value }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <Stack>
      <Title order={2}>Promo codes</Title>
      <form onSubmit={submit} aria-label="New promo code">
        <Group align="flex-end">
          <NativeSelect
            label="Organization"
            data={[
              { value: '', label: 'Every organization (global)' },
              ...(organizations.data?.organizations ?? []).map((item) => ({ value: item.id, label: item.name })),
            ]}
            {...field('organizationId')}
          />
          <TextInput label="Code" required maxLength={64} {...field('code')} />
          <NativeSelect
            label="Discount"
            data={[
              { value: 'percent', label: 'Percent off' },
              { value: 'flat', label: 'USD off' },
            ]}
            {...field('kind')}
          />
          <TextInput label="Amount" required inputMode="decimal" w={100} {...field('amount')} />
          <TextInput label="Most uses (optional)" inputMode="numeric" w={150} {...field('maxRedemptions')} />
          <TextInput label="Expires (optional)" type="datetime-local" {...field('expiresAt')} />
          <Button type="submit" loading={create.isPending}>
            Create promo code
          </Button>
        </Group>
      </form>
      <Failure error={create.error ?? disable.error ?? codes.error} />
      <Table striped aria-label="Promo codes">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Code</Table.Th>
            <Table.Th>Organization</Table.Th>
            <Table.Th>Discount</Table.Th>
            <Table.Th>Used</Table.Th>
            <Table.Th>Expires</Table.Th>
            <Table.Th>State</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(codes.data?.promoCodes ?? []).map((promo) => (
            <Table.Tr key={promo.id}>
              <Table.Td>
                <code>{promo.code}</code>
              </Table.Td>
              <Table.Td>
                {promo.organizationId ? (orgName.get(promo.organizationId) ?? promo.organizationId) : 'Global'}
              </Table.Td>
              <Table.Td>
                {promo.percentDiscount !== null ? `${promo.percentDiscount}%` : `${promo.flatDiscount} USD`}
              </Table.Td>
              <Table.Td>
                {promo.redemptionCount}
                {promo.maxRedemptions !== null ? ` of ${promo.maxRedemptions}` : ''}
              </Table.Td>
              <Table.Td>{when(promo.expiresAt)}</Table.Td>
              <Table.Td>
                {promo.disabledAt ? (
                  <Badge color="gray" variant="outline">
                    Disabled
                  </Badge>
                ) : (
                  <Button
                    size="xs"
                    color="red"
                    variant="outline"
                    aria-label={`Disable ${promo.code}`}
                    onClick={() => disable.mutate(promo.id)}
                  >
                    Disable
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
