import { Badge, Button, Stack, Switch, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, data } from '../api.ts';
import { Failure, ListTable, RowForm, ShownOnce, when } from './common.tsx';

/** Shade 9 of each has 4.5:1 contrast with white (format.ts). */
const DELIVERY_COLOR = { pending: 'gray', delivered: 'teal', failed: 'red' } as const;

/** The organization's webhook endpoints; for the one opened, its latest deliveries and a redeliver button. */
export function Webhooks({ organizationId }: { organizationId: string }) {
  const queryClient = useQueryClient();
  const path = { params: { path: { organizationId } } };
  const key = ['admin', 'webhooks', organizationId];
  const [url, setUrl] = useState('');
  const [opened, setOpened] = useState<string | null>(null);
  const endpoints = useQuery({
    queryKey: key,
    queryFn: () => data(api.GET('/admin/v1/organizations/{organizationId}/webhooks', path)),
  });
  const create = useMutation({
    mutationFn: () => data(api.POST('/admin/v1/organizations/{organizationId}/webhooks', { ...path, body: { url } })),
    onSuccess: (created) => {
      setUrl('');
      setOpened(created.webhookId);
      void queryClient.invalidateQueries({ queryKey: key });
    },
  });
  const toggle = useMutation({
    mutationFn: ({ webhookId, enabled }: { webhookId: string; enabled: boolean }) =>
      data(
        api.PATCH('/admin/v1/organizations/{organizationId}/webhooks/{webhookId}', {
          params: { path: { organizationId, webhookId } },
          body: { enabled },
        }),
      ),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: key }),
  });
  return (
    <Stack component="section" aria-labelledby="webhooks-title">
      <Title order={3} id="webhooks-title">
        Webhook endpoints
      </Title>
      <RowForm
        label="New webhook endpoint"
        submitLabel="Add endpoint"
        pending={create.isPending}
        onSubmit={() => create.mutate()}
      >
        <TextInput
          label="Endpoint URL"
          type="url"
          required
          w={420}
          value={url}
          onChange={(event) => setUrl(event.currentTarget.value)}
        />
      </RowForm>
      <Failure error={create.error ?? toggle.error ?? endpoints.error} />
      {create.data?.secret && (
        <ShownOnce title="The endpoint's signing secret" value={create.data.secret}>
          The receiver checks each delivery&apos;s signature with it. Copy it now: it is shown only this once.
        </ShownOnce>
      )}
      <ListTable label="Webhook endpoints" columns={['URL', 'Events', 'State', 'Deliveries']}>
        {(endpoints.data?.webhooks ?? []).map((endpoint) => (
          <Table.Tr key={endpoint.webhookId}>
            <Table.Td>
              <code>{endpoint.url}</code>
              {endpoint.disabledReason && (
                <Text size="xs" c="gray.7">
                  {endpoint.disabledReason}
                </Text>
              )}
            </Table.Td>
            <Table.Td>{endpoint.events ? endpoint.events.join(', ') : 'every event'}</Table.Td>
            <Table.Td>
              <Switch
                label={endpoint.enabled ? 'Enabled' : 'Disabled'}
                aria-label={`${endpoint.url} enabled`}
                checked={endpoint.enabled}
                onChange={(event) =>
                  toggle.mutate({ webhookId: endpoint.webhookId, enabled: event.currentTarget.checked })
                }
              />
            </Table.Td>
            <Table.Td>
              <Button
                size="xs"
                variant={opened === endpoint.webhookId ? 'filled' : 'default'}
                aria-expanded={opened === endpoint.webhookId}
                onClick={() => setOpened(opened === endpoint.webhookId ? null : endpoint.webhookId)}
              >
                {opened === endpoint.webhookId ? 'Hide deliveries' : 'Show deliveries'}
              </Button>
            </Table.Td>
          </Table.Tr>
        ))}
      </ListTable>
      {opened && <Deliveries organizationId={organizationId} webhookId={opened} />}
    </Stack>
  );
}

/** The latest deliveries to one endpoint (refreshed every 5 s while shown), each with a redeliver button. */
function Deliveries({ organizationId, webhookId }: { organizationId: string; webhookId: string }) {
  const queryClient = useQueryClient();
  const key = ['admin', 'deliveries', webhookId];
  const deliveries = useQuery({
    queryKey: key,
    queryFn: () =>
      data(
        api.GET('/admin/v1/organizations/{organizationId}/webhooks/{webhookId}/deliveries', {
          params: { path: { organizationId, webhookId }, query: { limit: 20 } },
        }),
      ),
    refetchInterval: 5_000,
  });
  const redeliver = useMutation({
    mutationFn: (deliveryId: string) =>
      data(
        api.POST('/admin/v1/organizations/{organizationId}/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver', {
          params: { path: { organizationId, webhookId, deliveryId } },
        }),
      ),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: key }),
  });
  const list = deliveries.data?.deliveries ?? [];
  return (
    <Stack component="section" aria-labelledby="deliveries-title">
      <Title order={4} id="deliveries-title">
        Recent deliveries
      </Title>
      <Failure error={redeliver.error ?? deliveries.error} />
      {redeliver.isSuccess && (
        <Text role="status" size="sm">
          Delivery queued again: it is sent with the same body and webhook-id.
        </Text>
      )}
      {list.length === 0 ? (
        <Text>No deliveries yet.</Text>
      ) : (
        <ListTable
          label="Deliveries"
          columns={['Event', 'Case', 'Status', 'Attempts', 'Created', 'Last error', 'Action']}
        >
          {list.map((delivery) => (
            <Table.Tr key={delivery.deliveryId} data-delivery-status={delivery.status}>
              <Table.Td>{delivery.event}</Table.Td>
              <Table.Td>
                <code>{delivery.caseId ?? '—'}</code>
              </Table.Td>
              <Table.Td>
                <Badge color={DELIVERY_COLOR[delivery.status]} variant="filled">
                  {delivery.status}
                </Badge>
              </Table.Td>
              <Table.Td>{delivery.attempts.length}</Table.Td>
              <Table.Td>{when(delivery.createdAt)}</Table.Td>
              <Table.Td>{delivery.lastError ?? '—'}</Table.Td>
              <Table.Td>
                <Button
                  size="xs"
                  variant="default"
                  disabled={delivery.status === 'pending'}
                  loading={redeliver.isPending && redeliver.variables === delivery.deliveryId}
                  aria-label={`Redeliver ${delivery.event} of ${when(delivery.createdAt)}`}
                  onClick={() => redeliver.mutate(delivery.deliveryId)}
                >
                  Redeliver
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      )}
    </Stack>
  );
}
