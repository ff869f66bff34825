import {
  Badge,
  Button,
  Group,
  Loader,
  PasswordInput,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, data } from '../api.ts';
import { Catalog } from './Catalog.tsx';
import { Failure, ListTable, OperatorLink, RowForm, ShownOnce, when, type AdminBody } from './common.tsx';
import { ORGANIZATIONS_KEY, useOrganizations } from './Organizations.tsx';
import { Webhooks } from './Webhooks.tsx';

/** One organization: its API keys, payment settings and gateway credentials, catalog and webhook endpoints. */
export function Organization({ organizationId }: { organizationId: string }) {
  const list = useOrganizations();
  const organization = list.data?.organizations.find((candidate) => candidate.id === organizationId);
  if (list.isPending) return <Loader aria-label="Loading the organization" />;
  if (!organization) {
    return (
      <Stack>
        <Failure error={list.error} />
        <Text>
          No such organization. <OperatorLink path="organizations">All organizations</OperatorLink>
        </Text>
      </Stack>
    );
  }
  return (
    <Stack gap="xl">
      <Stack gap={0}>
        <Text size="sm">
          <OperatorLink path="organizations">Organizations</OperatorLink> /
        </Text>
        <Title order={2}>{organization.name}</Title>
        <Text size="sm" c="gray.7">
          {organization.id}
        </Text>
      </Stack>
      <Rename organizationId={organizationId} name={organization.name} />
      <ApiKeys organizationId={organizationId} />
      <Payments organizationId={organizationId} />
      <Catalog organizationId={organizationId} />
      <Webhooks organizationId={organizationId} />
    </Stack>
  );
}

/** A new name for the organization (PATCH, audited as organization.rename); the API's refusal is shown as worded. */
function Rename({ organizationId, name }: { organizationId: string; name: string }) {
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState(name);
  const rename = useMutation({
    mutationFn: () =>
      data(
        api.PATCH('/admin/v1/organizations/{organizationId}', {
          params: { path: { organizationId } },
          body: { name: draft },
        }),
      ),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ORGANIZATIONS_KEY }),
  });
  return (
    <Stack
      component="form"
      gap="xs"
      aria-label="Rename the organization"
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        rename.mutate();
      }}
    >
      <Group align="flex-end">
        <TextInput label="Name" w={320} value={draft} onChange={(event) => setDraft(event.currentTarget.value)} />
        <Button type="submit" variant="default" loading={rename.isPending} disabled={draft === name}>
          Rename
        </Button>
      </Group>
      <Failure error={rename.error} />
      {rename.isSuccess && (
        <Text size="sm" role="status">
          Renamed to {rename.data.organization.name}.
        </Text>
      )}
    </Stack>
  );
}

function ApiKeys({ organizationId }: { organizationId: string }) {
  const queryClient = useQueryClient();
  const key = ['admin', 'api-keys', organizationId];
  const [label, setLabel] = useState('');
  const keys = useQuery({
    queryKey: key,
    queryFn: () =>
      data(api.GET('/admin/v1/organizations/{organizationId}/api-keys', { params: { path: { organizationId } } })),
  });
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: key });
    void queryClient.invalidateQueries({ queryKey: ORGANIZATIONS_KEY });
  };
  const create = useMutation({
    mutationFn: () =>
      data(
        api.POST('/admin/v1/organizations/{organizationId}/api-keys', {
          params: { path: { organizationId } },
          body: label ? { label } : {},
        }),
      ),
    onSuccess: () => {
      setLabel('');
      refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (apiKeyId: string) =>
      data(
        api.DELETE('/admin/v1/organizations/{organizationId}/api-keys/{apiKeyId}', {
          params: { path: { organizationId, apiKeyId } },
        }),
      ),
    onSuccess: refresh,
  });
  return (
    <Stack component="section" aria-labelledby="api-keys-title">
      <Title order={3} id="api-keys-title">
        API keys
      </Title>
      <RowForm
        label="New API key"
        submitLabel="Create API key"
        pending={create.isPending}
        onSubmit={() => create.mutate()}
      >
        <TextInput
          label="Label (optional)"
          maxLength={100}
          value={label}
          onChange={(e) => setLabel(e.currentTarget.value)}
        />
      </RowForm>
      <Failure error={create.error ?? revoke.error ?? keys.error} />
      {create.data && <ShownOnce title="The new API key" value={create.data.apiKey} />}
      <ListTable label="API keys" columns={['Key', 'Label', 'Created', 'Last used', 'State']}>
        {(keys.data?.apiKeys ?? []).map((apiKey) => (
          <Table.Tr key={apiKey.id}>
            <Table.Td>
              <code>{apiKey.prefix}…</code>
            </Table.Td>
            <Table.Td>{apiKey.label ?? '—'}</Table.Td>
            <Table.Td>{when(apiKey.createdAt)}</Table.Td>
            <Table.Td>{when(apiKey.lastUsedAt)}</Table.Td>
            <Table.Td>
              {apiKey.revokedAt ? (
                <Badge color="gray" variant="outline">
                  Revoked {when(apiKey.revokedAt)}
                </Badge>
              ) : (
                <Button
                  size="xs"
                  color="red"
                  variant="outline"
                  aria-label={`Revoke the key ${apiKey.prefix}`}
                  loading={revoke.isPending && revoke.variables === apiKey.id}
                  onClick={() => {
                    if (confirm(`Revoke the key ${apiKey.prefix}…? Calls with it are refused at once.`)) {
                      revoke.mutate(apiKey.id);
                    }
                  }}
                >
                  Revoke
                </Button>
              )}
            </Table.Td>
          </Table.Tr>
        ))}
      </ListTable>
    </Stack>
  );
}

type GatewayInput = AdminBody<'/admin/v1/organizations/{organizationId}/payment-gateways', 'patch'>;
const GATEWAY_FIELDS: [keyof GatewayInput & string, string][] = [
  ['stripeSecretKey', 'Stripe secret key'],
  ['stripeWebhookSecret', 'Stripe webhook signing secret'],
  ['stripePublishableKey', 'Stripe publishable key'],
  ['nmiSecurityKey', 'NMI security key'],
  ['nmiTokenizationKey', 'NMI tokenization key'],
];

/**
 * Charge on approval, and the organization's own gateway credentials: write-only. The API answers only whether each
 * is set (and its last 4 characters); the fields start empty, and a value typed is sent once and cleared.
 */
function Payments({ organizationId }: { organizationId: string }) {
  const queryClient = useQueryClient();
  const path = { params: { path: { organizationId } } };
  const settingsKey = ['admin', 'payment-settings', organizationId];
  const gatewaysKey = ['admin', 'payment-gateways', organizationId];
  const settings = useQuery({
    queryKey: settingsKey,
    queryFn: () => data(api.GET('/admin/v1/organizations/{organizationId}/payment-settings', path)),
  });
  const gateways = useQuery({
    queryKey: gatewaysKey,
    queryFn: () => data(api.GET('/admin/v1/organizations/{organizationId}/payment-gateways', path)),
  });
  const [values, setValues] = useState<Record<string, string>>({});
  const saveSettings = useMutation({
    mutationFn: (chargeOnApproval: boolean) =>
      data(
        api.PATCH('/admin/v1/organizations/{organizationId}/payment-settings', { ...path, body: { chargeOnApproval } }),
      ),
    onSuccess: (answer) => queryClient.setQueryData(settingsKey, answer),
  });
  const saveGateways = useMutation({
    mutationFn: (body: GatewayInput) =>
      data(api.PATCH('/admin/v1/organizations/{organizationId}/payment-gateways', { ...path, body })),
    onSuccess: (answer) => {
      setValues({});
      queryClient.setQueryData(gatewaysKey, answer);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const body = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== '')) as GatewayInput;
    saveGateways.mutate(body);
  };
  const credentials = gateways.data?.credentials as Record<string, { set: boolean; last4?: string }> | undefined;
  return (
    <Stack component="section" aria-labelledby="payments-title">
      <Title order={3} id="payments-title">
        Payments
      </Title>
      <Switch
        label="Charge the held payment when a provider approves the case"
        checked={settings.data?.chargeOnApproval ?? false}
        disabled={!settings.data || saveSettings.isPending}
        onChange={(event) => saveSettings.mutate(event.currentTarget.checked)}
      />
      <form onSubmit={submit} aria-label="Payment gateway credentials">
        <Stack gap="xs">
          <Text size="sm">
            The organization&apos;s own gateway credentials. Their values are never shown once set: type a new value to
            replace one.
          </Text>
          {GATEWAY_FIELDS.map(([field, label]) => {
            const state = credentials?.[field];
            return (
              <Group key={field} align="flex-end">
                <PasswordInput
                  label={label}
                  description={state?.set ? `Set (ends in ${state.last4 ?? '…'})` : 'Not set'}
                  autoComplete="off"
                  w={420}
                  value={values[field] ?? ''}
                  onChange={(event) => setValues({ ...values, [field]: event.currentTarget.value })}
                />
                {state?.set && (
                  <Button
                    variant="default"
                    size="xs"
                    aria-label={`Remove the ${label}`}
                    onClick={() => saveGateways.mutate({ [field]: null } as GatewayInput)}
                  >
                    Remove
                  </Button>
                )}
              </Group>
            );
          })}
          <Group>
            <Button type="submit" loading={saveGateways.isPending} disabled={Object.values(values).every((v) => !v)}>
              Save credentials
            </Button>
          </Group>
        </Stack>
      </form>
      <Failure error={saveSettings.error ?? saveGateways.error ?? settings.error ?? gateways.error} />
    </Stack>
  );
}
