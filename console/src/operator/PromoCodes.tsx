import { Badge, Button, NativeSelect, Stack, Table, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, data } from '../api.ts';
import { choices, Failure, ListTable, namesOf, RowForm, useFields, when, type AdminBody } from './common.tsx';
import { useOrganizations } from './Organizations.tsx';

type NewPromoCode = AdminBody<'/admin/v1/promo-codes', 'post'>;
const KEY = ['admin', 'promo-codes'];
const EMPTY = { organizationId: '', code: '', kind: 'percent', amount: '', maxRedemptions: '', expiresAt: '' };

/** Promo codes (an organization's or global): create, list, disable. */
export function PromoCodes() {
  const queryClient = useQueryClient();
  const { values: form, setValues: setForm, field } = useFields(EMPTY);
  const codes = useQuery({ queryKey: KEY, queryFn: () => data(api.GET('/admin/v1/promo-codes')) });
  const organizations = useOrganizations();
  const orgName = namesOf(organizations.data?.organizations);
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
  return (
    <Stack>
      <Title order={2}>Promo codes</Title>
      <RowForm
        label="New promo code"
        submitLabel="Create promo code"
        pending={create.isPending}
        onSubmit={() => create.mutate()}
      >
        <NativeSelect
          label="Organization"
          data={choices('Every organization (global)', organizations.data?.organizations)}
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
      </RowForm>
      <Failure error={create.error ?? disable.error ?? codes.error} />
      <ListTable label="Promo codes" columns={['Code', 'Organization', 'Discount', 'Used', 'Expires', 'State']}>
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
      </ListTable>
    </Stack>
  );
}
