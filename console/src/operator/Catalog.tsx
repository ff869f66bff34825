import { Checkbox, NativeSelect, Stack, Table, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, data } from '../api.ts';
import { choices, Failure, ListTable, namesOf, RowForm, useFields } from './common.tsx';

const NEW_BUNDLE = { name: '', price: '' };
const NEW_PRODUCT = { name: '', price: '', productBundleId: '' };

/** The organization's product bundles (price, visibility, sold out) and products. */
export function Catalog({ organizationId }: { organizationId: string }) {
  const queryClient = useQueryClient();
  const path = { params: { path: { organizationId } } };
  const bundlesKey = ['admin', 'bundles', organizationId];
  const productsKey = ['admin', 'products', organizationId];
  const bundles = useQuery({
    queryKey: bundlesKey,
    queryFn: () => data(api.GET('/admin/v1/organizations/{organizationId}/bundles', path)),
  });
  const products = useQuery({
    queryKey: productsKey,
    queryFn: () => data(api.GET('/admin/v1/organizations/{organizationId}/products', path)),
  });
  const { values: bundle, setValues: setBundle, field: bundleField } = useFields(NEW_BUNDLE);
  const { values: product, setValues: setProduct, field: productField } = useFields(NEW_PRODUCT);
  const createBundle = useMutation({
    mutationFn: () => data(api.POST('/admin/v1/organizations/{organizationId}/bundles', { ...path, body: bundle })),
    onSuccess: () => {
      setBundle(NEW_BUNDLE);
      void queryClient.invalidateQueries({ queryKey: bundlesKey });
    },
  });
  const changeBundle = useMutation({
    mutationFn: ({ bundleId, ...body }: { bundleId: string; isVisible?: boolean; isSoldOut?: boolean }) =>
      data(
        api.PATCH('/admin/v1/organizations/{organizationId}/bundles/{bundleId}', {
          params: { path: { organizationId, bundleId } },
          body,
        }),
      ),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: bundlesKey }),
  });
  const createProduct = useMutation({
    mutationFn: () =>
      data(
        api.POST('/admin/v1/organizations/{organizationId}/products', {
          ...path,
          body: {
            name: product.name,
            ...(product.price ? { price: product.price } : {}),
            productBundleId: product.productBundleId || null,
          },
        }),
      ),
    onSuccess: () => {
      setProduct(NEW_PRODUCT);
      void queryClient.invalidateQueries({ queryKey: productsKey });
    },
  });
  const bundleName = namesOf(bundles.data?.bundles);
  return (
    <Stack component="section" aria-labelledby="catalog-title">
      <Title order={3} id="catalog-title">
        Bundles and products
      </Title>
      <RowForm
        label="New bundle"
        submitLabel="Create bundle"
        pending={createBundle.isPending}
        onSubmit={() => createBundle.mutate()}
      >
        <TextInput label="Bundle name" required {...bundleField('name')} />
        <TextInput label="Bundle price (USD)" required inputMode="decimal" {...bundleField('price')} />
      </RowForm>
      <Failure error={createBundle.error ?? changeBundle.error ?? bundles.error} />
      <ListTable label="Bundles" columns={['Bundle', 'Price', 'Visible', 'Sold out']}>
        {(bundles.data?.bundles ?? []).map((item) => (
          <Table.Tr key={item.id}>
            <Table.Td>{item.name}</Table.Td>
            <Table.Td>
              {item.price} {item.priceUnit}
            </Table.Td>
            <Table.Td>
              <Checkbox
                aria-label={`${item.name} is visible`}
                checked={item.isVisible}
                onChange={(event) => changeBundle.mutate({ bundleId: item.id, isVisible: event.currentTarget.checked })}
              />
            </Table.Td>
            <Table.Td>
              <Checkbox
                aria-label={`${item.name} is sold out`}
                checked={item.isSoldOut}
                onChange={(event) => changeBundle.mutate({ bundleId: item.id, isSoldOut: event.currentTarget.checked })}
              />
            </Table.Td>
          </Table.Tr>
        ))}
      </ListTable>
      <RowForm
        label="New product"
        submitLabel="Create product"
        pending={createProduct.isPending}
        onSubmit={() => createProduct.mutate()}
      >
        <TextInput label="Product name" required {...productField('name')} />
        <TextInput label="Product price (USD, optional)" inputMode="decimal" {...productField('price')} />
        <NativeSelect
          label="In bundle"
          data={choices('No bundle', bundles.data?.bundles)}
          {...productField('productBundleId')}
        />
      </RowForm>
      <Failure error={createProduct.error ?? products.error} />
      <ListTable label="Products" columns={['Product', 'Price', 'Bundle']}>
        {(products.data?.products ?? []).map((item) => (
          <Table.Tr key={item.id}>
            <Table.Td>{item.name}</Table.Td>
            <Table.Td>
              {item.price} {item.priceUnit}
            </Table.Td>
            <Table.Td>{item.productBundleId ? (bundleName.get(item.productBundleId) ?? '—') : '—'}</Table.Td>
          </Table.Tr>
        ))}
      </ListTable>
    </Stack>
  );
}
