import { Button, Checkbox, Group, NativeSelect, Stack, Table, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, data } from '../api.ts';
import { Failure } from './common.tsx';

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
  const [bundle, setBundle] = useState({ name: '', price: '' });
  const [product, setProduct] = useState({ name: '', price: '', productBundleId: '' });
  const createBundle = useMutation({
    mutationFn: () => data(api.POST('/admin/v1/organizations/{organizationId}/bundles', { ...path, body: bundle })),
    onSuccess: () => {
      setBundle({ name: '', price: '' });
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
      setProduct({ name: '', price: '', productBundleId: '' });
      void queryClient.invalidateQueries({ queryKey: productsKey });
    },
  });
  const bundleName = new Map((bundles.data?.bundles ?? []).map((item) => [item.id, item.name]));
  return (
    <Stack component="section" aria-labelledby="catalog-title">
      <Title order={3} id="catalog-title">
        Bundles and products
      </Title>
      <form
        aria-label="New bundle"
        onSubmit={(event: FormEvent) => {
          event.preventDefault();
          createBundle.mutate();
        }}
      >
        <Group align="flex-end">
          <TextInput
            label="Bundle name"
            required
            value={bundle.name}
            onChange={(event) => setBundle({ ...bundle, name: event.currentTarget.value })}
          />
          <TextInput
            label="Bundle price (USD)"
            required
            inputMode="decimal"
            value={bundle.price}
            onChange={(event) => setBundle({ ...bundle, price: event.currentTarget.value })}
          />
          <Button type="submit" loading={createBundle.isPending}>
            Create bundle
          </Button>
        </Group>
      </form>
      <Failure error={createBundle.error ?? changeBundle.error ?? bundles.error} />
      <Table striped aria-label="Bundles">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Bundle</Table.Th>
            <Table.Th>Price</Table.Th>
            <Table.Th>Visible</Table.Th>
            <Table.Th>Sold out</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
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
                  onChange={(event) =>
                    changeBundle.mutate({ bundleId: item.id, isVisible: event.currentTarget.checked })
                  }
                />
              </Table.Td>
              <Table.Td>
                <Checkbox
                  aria-label={`${item.name} is sold out`}
                  checked={item.isSoldOut}
                  onChange={(event) =>
                    changeBundle.mutate({ bundleId: item.id, isSoldOut: event.currentTarget.checked })
                  }
                />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <form
        aria-label="New product"
        onSubmit={(event: FormEvent) => {
          event.preventDefault();
          createProduct.mutate();
        }}
      >
        <Group align="flex-end">
          <TextInput
            label="Product name"
            required
            value={product.name}
            onChange={(event) => setProduct({ ...product, name: event.currentTarget.value })}
          />
          <TextInput
            label="Product price (USD, optional)"
            inputMode="decimal"
            value={product.price}
            onChange={(event) => setProduct({ ...product, price: event.currentTarget.value })}
          />
          <NativeSelect
            label="In bundle"
            value={product.productBundleId}
            onChange={(event) => setProduct({ ...product, productBundleId: event.currentTarget.value })}
            data={[
              { value: '', label: 'No bundle' },
              ...(bundles.data?.bundles ?? []).map((item) => ({ value: item.id, label: item.name })),
            ]}
          />
          <Button type="submit" loading={createProduct.isPending}>
            Create product
          </Button>
        </Group>
      </form>
      <Failure error={createProduct.error ?? products.error} />
      <Table striped aria-label="Products">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Product</Table.Th>
            <Table.Th>Price</Table.Th>
            <Table.Th>Bundle</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(products.data?.products ?? []).map((item) => (
            <Table.Tr key={item.id}>
              <Table.Td>{item.name}</Table.Td>
              <Table.Td>
                {item.price} {item.priceUnit}
              </Table.Td>
              <Table.Td>{item.productBundleId ? (bundleName.get(item.productBundleId) ?? '—') : '—'}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
